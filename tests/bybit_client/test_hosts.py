import pytest

from keymint.bybit import resolve_base_url


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("mainnet", "https://api.bybit.com"),
        ("bytick", "https://api.bytick.com"),
        ("testnet", "https://api-testnet.bybit.com"),
        ("demo", "https://api-demo.bybit.com"),
        ("demo-testnet", "https://api-demo-testnet.bybit.com"),
        ("nl", "https://api.bybit.nl"),
        ("tr", "https://api.bybit.tr"),
        ("kz", "https://api.bybit.kz"),
        ("ge", "https://api.bybitgeorgia.ge"),
        ("ae", "https://api.bybit.ae"),
        ("eu", "https://api.bybit.eu"),
        ("id", "https://api.bybit.id"),
        ("jp", "https://api.manepa.jp"),
        ("jp-testnet", "https://api-testnet.manepa.jp"),
        ("MainNet", "https://api.bybit.com"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://bybit.example/prefix", "https://bybit.example/prefix"),
    ],
)
def test_names_and_urls_resolve(name: str, url: str) -> None:
    assert resolve_base_url(name) == url


@pytest.mark.parametrize(
    "bad", ["", "mainet", "ftp://x", "http://", "api.bybit.com", "http://h/?q=1"]
)
def test_unknown_values_are_refused_naming_the_accepted_ones(bad: str) -> None:
    with pytest.raises(ValueError, match=r"mainnet, bytick, testnet.*jp-testnet.*http\(s\)://"):
        resolve_base_url(bad)

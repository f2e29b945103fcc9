"""keymint's benchmarks (`make bench`): issue 7's measurements against real servers on loopback."""

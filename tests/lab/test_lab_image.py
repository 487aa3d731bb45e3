"""`pmops lab image` interrupted half-way through debootstrap: the next build removes the
leftovers and builds the image again. It builds an image of another name
(PMOPS_LAB_IMAGE_REPO) and touches no lab host, so `make test` runs it beside the second
converge (`make lab-image-tests`, scripts/test_tiers.py): 105 s of debootstrap and
dist-upgrade alone, mostly one process, where the second converge leaves half the cores idle.
"""

from __future__ import annotations

import signal
import subprocess
import time

from labkit import ENV, PMOPS, ROOT, pmops, podman


def test_an_interrupted_image_build_is_cleaned_up_and_rebuilt():
    env = dict(ENV, PMOPS_LAB_IMAGE_REPO="localhost/pmops-lab-test")
    remove_test_images()  # a test image left by a killed run would make `lab image` a no-op
    proc = subprocess.Popen([PMOPS, "lab", "image"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Interrupt once debootstrap is under way (its work directory exists), not after a fixed
    # time: on a loaded machine the start alone can take longer than a guess.
    under_way = ROOT / ".lab" / "build" / "rootfs" / "debootstrap"
    deadline = time.monotonic() + 300
    while not under_way.exists():
        assert proc.poll() is None, "pmops lab image ended before debootstrap began: " + proc.stderr.read()
        assert time.monotonic() < deadline, "debootstrap did not begin within 300 s"
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert (ROOT / ".lab" / "build").exists(), "the interrupted build left nothing to clean up"
    try:
        rebuilt = pmops("lab", "image", env=env, timeout=900)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "removing the leftovers of an interrupted image build" in rebuilt.stderr
        assert podman("image", "exists", rebuilt.stdout.strip()).returncode == 0
        assert not (ROOT / ".lab" / "build").exists()
    finally:
        remove_test_images()


def remove_test_images():
    for ref in podman("images", "--format", "{{.Repository}}:{{.Tag}}",
                      "--filter", "reference=localhost/pmops-lab-test").stdout.split():
        podman("rmi", "--force", ref)

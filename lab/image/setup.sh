#!/bin/sh
# Runs inside the debootstrapped tree (chroot) before it is imported as the lab image.
# Part of the image recipe: changing this file changes the image tag.
# Arguments: MIRROR SUITE
set -eu
mirror=$1
suite=$2

# A fresh server makes its own host keys at first boot, as a cloud image does.
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d
cat > /etc/systemd/system/ssh.service.d/10-pmops-lab-hostkeys.conf <<UNIT
[Service]
ExecStartPre=
# Host keys are made at first boot only, as Debian's installer does on a server: a restart
# must not bring back key types the ssh role removed.
ExecStartPre=/bin/sh -c 'ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || exec /usr/bin/ssh-keygen -A'
ExecStartPre=/usr/sbin/sshd -t
UNIT
: > /etc/machine-id

# The security archive lives beside the main one (…/debian-security).
cat > /etc/apt/sources.list <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $mirror-security $suite-security main
SOURCES

# Container consoles have no getty to run; keep the boot quiet and quick.
systemctl mask getty@tty1.service console-getty.service >/dev/null 2>&1 || true
apt-get clean
# Keep fresh package lists, as a newly installed server has them (check mode needs them).
apt-get update -qq
# Debian's installer applies the waiting security and point-release updates while it installs,
# so a new server starts up to date; debootstrap does not (it takes the suite as released).
# Without this every fresh lab converge spent over two minutes in unattended-upgrade. Updates
# published after the image was built still wait, and the hardening role installs them.
DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o Dpkg::Options::=--force-confold dist-upgrade >/dev/null
apt-get clean

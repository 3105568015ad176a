#!/bin/sh
# Installs what blokir needs to build and to run its test suite on Debian 12 (bookworm).
# Run as root or with sudo available. Package services (nsd) are not started: the tests start
# their own instances on free loopback ports, and a DNS server appearing on port 53 of an
# operator's machine as a side effect of installing test tools would be a surprise.
set -eu
# `sh tools/install-deps.sh bench` also installs what only bench/ needs (dnsdist to compare with,
# knot-dnsutils for kxdpgun in bench/xdp_veth.sh); the test suite does not need them.

BUILD="build-essential clang pkg-config libldns-dev libssl-dev libevent-dev libyaml-dev libxxhash-dev libidn2-dev libfstrm-dev libprotobuf-c-dev protobuf-c-compiler libsystemd-dev liburing-dev"
BENCH=""
[ "${1:-}" != bench ] || BENCH="dnsdist knot-dnsutils"
TEST="nsd knot unbound groff-base man-db systemd passwd curl fstrm-bin bind9-dnsutils bind9 dnsperf python3 python3-dnspython python3-yaml python3-prometheus-client valgrind iproute2 libclang-rt-14-dev procps util-linux"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

# policy-rc.d exit 101 = "do not start services" for the duration of the install only.
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	made_policy=1
fi
cleanup() { [ -z "$made_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d; }
trap cleanup EXIT

$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $BUILD $TEST $BENCH >/dev/null
echo "install-deps: build and test dependencies installed"

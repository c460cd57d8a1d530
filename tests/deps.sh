#!/bin/sh
# deps.sh -- install the Debian packages rblcache builds and tests with.
# Idempotent: apt-get runs only when a package is missing.
set -e
PKGS="gcc make pkg-config libev-dev libunbound-dev libhiredis-dev libconfuse-dev
libcmocka-dev python3-pytest python3-dnspython python3-redis redis-server
rbldnsd unbound dnsperf dnsutils clang valgrind libmicrohttpd-dev libsystemd-dev
postfix swaks iproute2"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Postfix only for the end-to-end test, which runs its own instance: install
# it without a system configuration, so the package starts no mail service.
case "$missing" in *" postfix"*)
	echo "postfix postfix/main_mailer_type select No configuration" |
		$SUDO debconf-set-selections ;;
esac
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

#!/bin/sh
# Before removal: stop the service if systemd runs it. The data in
# /var/lib/mediakit and the mediakit user stay (recordings are the user's).
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl stop mediakit.service >/dev/null 2>&1 || true
	systemctl disable mediakit.service >/dev/null 2>&1 || true
fi

#!/bin/sh
# After install: the mediakit system user and its data directory.
set -e
if ! getent group mediakit >/dev/null 2>&1; then
	groupadd --system mediakit
fi
if ! getent passwd mediakit >/dev/null 2>&1; then
	useradd --system --gid mediakit --home-dir /var/lib/mediakit --no-create-home \
		--shell /usr/sbin/nologin --comment "mediakit streaming media server" mediakit
fi
mkdir -p /var/lib/mediakit
chown mediakit:mediakit /var/lib/mediakit
chmod 0750 /var/lib/mediakit
# The config may hold the API secret: readable by the service, not by all.
if [ -f /etc/mediakit/mediakit.toml ]; then
	chgrp mediakit /etc/mediakit/mediakit.toml
	chmod 0640 /etc/mediakit/mediakit.toml
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi

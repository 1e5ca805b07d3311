#!/usr/bin/env bash
# packaging/check.sh — `make package-check`: goreleaser check, a snapshot
# build of every archive and package, and checks of what they hold. With
# MEDIAKIT_PACKAGE_INSTALL=1 (as root, on a Debian machine you do not mind
# changing: CI) it also installs the .deb with dpkg -i and checks the
# installed files, then removes it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GORELEASER="${GORELEASER:-goreleaser}"

die() { echo "package-check: $*" >&2; exit 1; }
command -v "$GORELEASER" >/dev/null 2>&1 || die "$GORELEASER not found (make goreleaser installs the pinned version)"

"$GORELEASER" check
"$GORELEASER" release --snapshot --clean --skip=publish

arch="$(go env GOARCH)"
deb="$(ls dist/mediakit_*_linux_"$arch".deb 2>/dev/null | head -n1)"
rpm="$(ls dist/mediakit_*_linux_"$arch".rpm 2>/dev/null | head -n1)"
tgz="$(ls dist/mediakit_*_linux_"$arch".tar.gz 2>/dev/null | head -n1)"
[[ -n "$deb" && -n "$rpm" && -n "$tgz" ]] || die "snapshot made no .deb, .rpm or linux archive for $arch"
for os_arch in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64; do
	ls dist/mediakit_*_"$os_arch".tar.gz >/dev/null 2>&1 || die "no archive for $os_arch"
done
ls dist/mediakit_*_windows_amd64.zip >/dev/null 2>&1 || die "no archive for windows_amd64"
grep -q "$(basename "$deb")" dist/checksums.txt || die "checksums.txt does not list $(basename "$deb")"
[[ -f dist/homebrew/Casks/mediakit.rb ]] || die "no Homebrew cask in dist/homebrew/Casks"

# The archive: binary, docs, completions, man pages.
listing="$(tar -tzf "$tgz")"
for f in mediakit README.md LICENSE NOTICE completions/mediakit.bash completions/_mediakit \
	completions/mediakit.fish completions/mediakit.ps1 man/mediakit.1 man/mediakit-serve.1; do
	grep -qx "$f" <<<"$listing" || die "$(basename "$tgz") lacks $f"
done

# The .deb: files where Debian expects them.
contents="$(dpkg-deb --contents "$deb" | awk '{print $6}')"
for f in ./usr/bin/mediakit ./usr/share/man/man1/mediakit.1 ./usr/share/man/man1/mediakit-serve.1 \
	./usr/share/bash-completion/completions/mediakit ./usr/share/zsh/vendor-completions/_mediakit \
	./usr/share/fish/vendor_completions.d/mediakit.fish ./usr/lib/systemd/system/mediakit.service \
	./etc/mediakit/mediakit.toml ./usr/share/doc/mediakit/NOTICE; do
	grep -qx "$f" <<<"$contents" || die "$(basename "$deb") lacks $f"
done
dpkg-deb --field "$deb" Package Version Architecture | grep -q '^Package: mediakit$' || die "bad control fields"

# The binary in the package runs and says its version.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
version="$("$tmp/usr/bin/mediakit" version)"
echo "packaged: $version"
grep -q "^mediakit $(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' dist/metadata.json) " <<<"$version" ||
	die "packaged mediakit version $version is not the snapshot's"
# goreleaser reads the commit only in a clone with a remote (as CI's is).
if [[ -n "$(git remote)" ]]; then
	grep -q "commit $(git rev-parse --short=12 HEAD)" <<<"$version" || die "packaged mediakit version lacks the commit"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
	# Expected outside an installed system: the binary is not at
	# /usr/bin, the man page is not installed.
	problems="$(systemd-analyze verify "$tmp/usr/lib/systemd/system/mediakit.service" 2>&1 |
		grep -v -e 'Command /usr/bin/mediakit is not executable' -e "Command 'man " -e '^$' || true)"
	[[ -z "$problems" ]] || die "unit file does not verify: $problems"
fi
if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 man -l "$tmp/usr/share/man/man1/mediakit-serve.1" >/dev/null 2>&1 || die "mediakit-serve.1 does not render"
fi

if [[ "${MEDIAKIT_PACKAGE_INSTALL:-}" == 1 ]]; then
	dpkg -i "$deb"
	/usr/bin/mediakit version
	getent passwd mediakit >/dev/null || die "the package made no mediakit user"
	[[ "$(stat -c %U /var/lib/mediakit)" == mediakit ]] || die "/var/lib/mediakit is not the mediakit user's"
	[[ "$(stat -c %a:%G /etc/mediakit/mediakit.toml)" == 640:mediakit ]] || die "/etc/mediakit/mediakit.toml is not 0640 root:mediakit"
	dpkg -r mediakit
fi
echo "package-check: ok ($(basename "$deb"), $(basename "$rpm"), archives, checksums, cask)"

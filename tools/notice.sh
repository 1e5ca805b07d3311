#!/usr/bin/env bash
# tools/notice.sh — write NOTICE: every module linked into the mediakit
# binary, its version and license (read from the module's license file in
# the module cache), and the NOTICE files of Apache-2.0 modules, which that
# license asks redistributors to carry. `make notice` runs it; a test in
# cmd/mediakit fails when NOTICE misses a linked module or names a version
# that is not the one linked.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache="$(go env GOMODCACHE)"
mods="$(go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}' ./cmd/mediakit | sort -u)"

# escape: the module cache spells upper-case letters as !lower.
escape() { sed -E 's/([A-Z])/!\L\1/g' <<<"$1"; }

license_of() {
	local f="$1" head
	head="$(head -c 4000 "$f")"
	case "$head" in
	*"Apache License"*) echo "Apache-2.0" ;;
	*"Permission is hereby granted, free of charge"*) echo "MIT" ;;
	*"Mozilla Public License"*) echo "MPL-2.0" ;;
	*"Redistribution and use in source and binary forms"*)
		if grep -q "Neither the name" <<<"$head"; then echo "BSD-3-Clause"; else echo "BSD-2-Clause"; fi ;;
	*"Permission to use, copy, modify, and/or distribute"*) echo "ISC" ;;
	*) echo "see its license file" ;;
	esac
}

{
	echo "mediakit"
	echo "Copyright (c) 2026 The mediakit authors. MIT License (see LICENSE)."
	echo
	echo "The mediakit binary links the following Go modules, each under its own"
	echo "license (the full texts are in each module's source at the version named):"
	echo
	notices=""
	while read -r path version; do
		dir="$cache/$(escape "$path")@$version"
		file="$(find "$dir" -maxdepth 1 -type f \( -iname 'LICEN[CS]E*' -o -iname 'COPYING*' \) | sort | head -n1)"
		[[ -n "$file" ]] || { echo "notice.sh: no license file in $dir" >&2; exit 1; }
		lic="$(license_of "$file")"
		echo "  $path $version  $lic"
		if [[ "$lic" == "Apache-2.0" && -f "$dir/NOTICE" ]]; then
			notices+=$'\n'"---- NOTICE of $path $version ----"$'\n'"$(cat "$dir/NOTICE")"$'\n'
		fi
	done <<<"$mods"
	echo
	echo "The player page (pkg/player/assets) embeds these npm packages, under"
	echo "Apache-2.0 (texts in pkg/player/assets/LICENSE.*.txt; mpegts.js bundles"
	echo "es6-promise and webworkify-webpack, MIT, see mpegts.js.LICENSE.txt):"
	echo
	sed -n '/"dependencies"/,/}/s/^ *"\([^"]*\)": "\([^"]*\)".*/- \1 \2  Apache-2.0/p' web/player/package.json
	if [[ -n "$notices" ]]; then
		echo
		echo "NOTICE files of the Apache-2.0 modules above, as they ask:"
		printf '%s' "$notices"
	fi
} >NOTICE
echo "wrote NOTICE ($(grep -c '^  ' NOTICE) modules)"

#!/usr/bin/env bash
# fetch-geo.sh fetches the free country database (ip-location-db, geo-whois-asn-country)
# through npm and installs it as <dir>/country.mmdb for `sezim serve --geoip`.
#
# Usage: scripts/fetch-geo.sh [dir]      (dir defaults to .cache/geo)
#
# npm is used because it is the one channel that reaches the data here. The package
# (https://github.com/sapics/ip-location-db) ships IPv4-only, IPv6-only and combined
# .mmdb files whose records are {"country_code": "KZ"}; we install the combined one.
# The package is marked CC0-1.0, but its README and NRO_LICENSE say the underlying
# WHOIS/ASN statistics are CC BY 4.0 by the Number Resource Organization (nro.net), so
# the attribution is written next to the file and must be shown wherever it is used.
# The package README also says npm updates are deprecated in favour of GitHub releases;
# npm remains the only reachable channel here, so it stays the source for now.
# Running the script again is a no-op while the file is present; delete it to refresh.
set -euo pipefail

pkg="@ip-location-db/geo-whois-asn-country-mmdb"
dir="${1:-.cache/geo}"
dest="${dir}/country.mmdb"

if [[ -s "${dest}" ]]; then
	echo "fetch-geo: ${dest} already present, skipping (delete it to refresh)"
	exit 0
fi

for tool in npm tar; do
	if ! command -v "${tool}" >/dev/null 2>&1; then
		echo "fetch-geo: ${tool} is required but not installed" >&2
		exit 1
	fi
done

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

echo "fetch-geo: downloading ${pkg} with npm pack"
# npm pack prints the tarball name on its last stdout line; --pack-destination keeps it in tmp.
tarball="$(cd "${tmp}" && npm pack --silent --pack-destination "${tmp}" "${pkg}" | tail -n 1)"
if [[ -z "${tarball}" || ! -f "${tmp}/${tarball}" ]]; then
	echo "fetch-geo: npm pack did not produce a tarball for ${pkg}" >&2
	exit 1
fi

# The file names inside the package are not part of any contract, so look for them:
# prefer the combined IPv4+IPv6 file (no -ipv4/-ipv6 suffix), else the largest .mmdb.
members="$(tar -tzvf "${tmp}/${tarball}" | awk '$NF ~ /\.mmdb$/ {print $3, $NF}')"
member="$(printf '%s\n' "${members}" | awk '$2 !~ /-ipv[46]\.mmdb$/ {print $2; exit}')"
if [[ -z "${member}" ]]; then
	member="$(printf '%s\n' "${members}" | sort -rn | awk 'NR == 1 {print $2}')"
fi
if [[ -z "${member}" ]]; then
	echo "fetch-geo: no .mmdb file inside ${tarball}" >&2
	exit 1
fi

tar -xzf "${tmp}/${tarball}" -C "${tmp}" "${member}"
mkdir -p "${dir}"
# Write under a temporary name and rename, so a half-written file never looks complete.
cp "${tmp}/${member}" "${dest}.partial"
mv "${dest}.partial" "${dest}"
{
	echo "file: ${member} from npm ${pkg} (${tarball})"
	echo "source: https://github.com/sapics/ip-location-db (package license CC0-1.0)"
	echo "attribution: WHOIS and ASN data (c) Number Resource Organization (nro.net), CC BY 4.0"
} >"${dir}/country.mmdb.source"

size="$(wc -c <"${dest}" | tr -d ' ')"
echo "fetch-geo: wrote ${dest} (${size} bytes) from ${tarball}"

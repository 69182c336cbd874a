#!/usr/bin/env bash
# Re-resolve the pinned test environments (`make lock`): for every supported Python found on this
# machine, install the newest releases of `.[test]` into a throw-away virtualenv and write what pip
# installed, exactly, to constraints/test-py3.X.txt; likewise .venv-ref's packages to ref.txt.
# Commit the result on its own ("Bump the test environment"), after `make test` passes with it.
#
#   constraints/update.sh            # every supported Python that is installed
#   constraints/update.sh 3.12       # just one
set -euo pipefail
cd "$(dirname "$0")/.."
here=constraints
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.9 3.10 3.11 3.12 3.13)
# The reference build and the provider SDKs of its day (tests/ai/*_parity.py, make ref-venv).
ref_packages=(posthog==3.25.0 openai==1.75.0 anthropic==0.49.0 langchain==0.3.25 langchain-openai==0.3.16)

freeze() {  # <venv> <output> <what>
	{
		echo "# $3"
		echo "# Python $("$1/bin/python" -c 'import platform; print(platform.python_version())')," \
			"resolved $(date -u +%Y-%m-%d) by constraints/update.sh: do not edit by hand."
		"$1/bin/python" -m pip freeze --all --exclude-editable | grep -v -i '^posthog==' | LC_ALL=C sort -f
	} >"$2"
	echo "wrote $2 ($(grep -vc '^#' "$2") packages)"
}

for version in "${versions[@]}"; do
	python=$(.ci/find-python "$version") || { echo "Python $version: not installed, skipped" >&2; continue; }
	tmp=$(mktemp -d)
	"$python" -m venv "$tmp/venv"
	"$tmp/venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
	"$tmp/venv/bin/python" -m pip install -q --upgrade -e '.[test]'
	# PostHog's OpenFeature provider, as the Makefile installs it (no deps: it declares posthog>=7).
	if [ "$version" != 3.9 ]; then
		"$tmp/venv/bin/python" -m pip install -q --no-deps openfeature-provider-posthog==0.1.125
	fi
	freeze "$tmp/venv" "$here/test-py$version.txt" "make test's packages (pip constraints file)"
	if [ "$version" = 3.11 ]; then
		"$python" -m venv "$tmp/ref"
		"$tmp/ref/bin/python" -m pip install -q --upgrade pip
		"$tmp/ref/bin/python" -m pip install -q "${ref_packages[@]}"
		freeze "$tmp/ref" "$here/ref.txt" ".venv-ref: posthog 3.25.0 and the provider SDKs of its day"
	fi
	rm -rf "$tmp"
done

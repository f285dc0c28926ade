#!/bin/sh
# The style checks a machine can make on the C tree (docs/style.md): no line
# over 80 columns (tabs at 8), no trailing blanks, indentation by tabs (a
# continuation may add up to 7 spaces after them), no space before a tab,
# comments as /* */ (tests/unit/fixtures hold /proc text and are skipped).
# With a git ref as $1, only the C files changed since it
# are checked, else (or when the ref is unknown) every tracked C file.
# Prints one "file:line: what" per fault and "style: N files, N faults".
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
if [ -n "${1:-}" ] && git rev-parse -q --verify "$1^{commit}" >/dev/null; then
	files=$(git diff --name-only --diff-filter=d "$1" -- '*.c' '*.h' \
		    ':!tests/unit/fixtures')
else
	files=$(git ls-files '*.c' '*.h' ':!tests/unit/fixtures')
fi
[ -n "$files" ] || { echo "style: 0 files, 0 faults"; exit 0; }
# shellcheck disable=SC2086
awk '
function fault(what) { printf "%s:%d: %s\n", FILENAME, FNR, what; n++ }
FNR == 1 { files++ }
{
	line = $0; col = 0; out = ""
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (c == "\t") col += 8 - col % 8; else col++
	}
	if (col > 80) fault("line of " col " columns (at most 80)")
	if (line ~ /[ \t]+$/) fault("trailing blank")
	if (line ~ /^\t* {8,}/) fault("indented by spaces (use tabs)")
	if (line ~ /^[\t ]* +\t/) fault("space before a tab")
	if (line ~ /^[ \t]*\/\//) fault("// comment (write /* */)")
}
END { printf "style: %d files, %d faults\n", files, n; exit n > 0 }
' $files

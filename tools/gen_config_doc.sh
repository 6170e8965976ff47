#!/usr/bin/env bash
# Regenerate docs/CONFIG.md from the code's documented defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
{ sed -n '1,/^```toml$/p' docs/CONFIG.md; .venv/bin/jumpkiosk config --defaults; echo '```'; } > docs/CONFIG.md.new
mv docs/CONFIG.md.new docs/CONFIG.md

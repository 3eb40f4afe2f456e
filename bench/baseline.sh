# Sourced by the benchmarks that measure the working tree against a baseline
# commit in the same run. With $bench set to the benchmark's folder name
# under bench/ (its program is main.go there) and $BASE to the baseline
# (default HEAD, the code before uncommitted changes; once a change is
# committed, set BASE to the commit before it), it builds the program twice:
# $work/baseline in a temporary git worktree of $BASE, into which main.go is
# copied (so it must build against both sides), and $work/lakehouse from the
# working tree. It sets rev to the baseline's short hash and removes the
# worktree and $work on exit.
base=${BASE:-HEAD}
work=$(mktemp -d "${TMPDIR:-/tmp}/$bench-bench.XXXXXX")
tree="$work/tree"
cleanup() {
  git worktree remove --force "$tree" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rev=$(git rev-parse --short "$base")
git worktree add --quiet --detach "$tree" "$rev"
mkdir -p "$tree/bench/$bench"
cp "bench/$bench/main.go" "$tree/bench/$bench/main.go"
(cd "$tree" && go build -o "$work/baseline" "./bench/$bench")
go build -o "$work/lakehouse" "./bench/$bench"

#!/bin/sh
# Prepares a claudebox's /workspace before the pod starts (init container "init-workspace").
#   - no checkout yet: clone $REPO_URL (over SSH: the image's ssh config names the deploy key
#     and known_hosts). A fresh volume may hold lost+found, which this user cannot remove,
#     so "empty" means "nothing else".
#   - a checkout: fetch, and leave the working tree, the branch and local commits alone
#     (they are someone's work). A failed fetch only warns: the pod still starts with what
#     it has rather than waiting on the git host.
#   - anything else: refuse and fail, touching nothing.
set -eu
: "${REPO_URL:?REPO_URL is not set}"
WORKSPACE="${WORKSPACE:-/workspace}"
log() { echo "init-workspace: $*" >&2; }

if [ -d "$WORKSPACE/.git" ]; then
  log "$WORKSPACE is a checkout; fetching origin"
  if ! git -C "$WORKSPACE" fetch --prune origin; then
    log "warning: fetch failed; starting with the checkout as it is"
  fi
  exit 0
fi

staging="$WORKSPACE/.rdev-clone"
rm -rf "$staging" # left over by a clone that was interrupted
if [ -n "$(ls -A "$WORKSPACE" | grep -vx 'lost+found' || true)" ]; then
  log "$WORKSPACE is neither empty nor a git checkout; refusing to touch it:"
  ls -A "$WORKSPACE" >&2
  exit 1
fi

log "cloning $REPO_URL into $WORKSPACE"
# Clone beside, then move .git in and check out: git clone refuses a directory that holds
# lost+found. Same filesystem, so the move is a rename.
git clone --no-checkout "$REPO_URL" "$staging"
mv "$staging/.git" "$WORKSPACE/.git"
rmdir "$staging"
if git -C "$WORKSPACE" rev-parse --verify --quiet HEAD >/dev/null; then
  git -C "$WORKSPACE" reset --hard --quiet HEAD
else
  log "the repository has no commits yet"
fi
log "done: $(git -C "$WORKSPACE" log -1 --format='%h %s' 2>/dev/null || echo 'empty repository')"

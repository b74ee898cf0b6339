#!/usr/bin/env bash
# Push the current tree to a Hugging Face Space as one commit, every binary stored as a Git LFS object.
#
#     tools/deploy_space.sh https://huggingface.co/spaces/USER/SPACE     # or any git remote, e.g. a local bare repo's path
#
# The Hub refuses binaries that are not LFS objects anywhere in a Space's history, and this repository keeps
# its weights, GIFs, PNGs and digit bank as plain blobs. So the Space gets a fresh one-commit snapshot of the
# tracked (and untracked, not ignored) files, force-pushed. LFS stays confined to that snapshot: its filters are
# installed in the snapshot's own .git/config (`git lfs install --local`), never in this checkout or ~/.gitconfig.
# Authenticate as for any push, e.g. https://USER:HF_TOKEN@huggingface.co/spaces/USER/SPACE.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 SPACE_GIT_REMOTE   (e.g. https://huggingface.co/spaces/USER/SPACE)" >&2
  exit 2
fi
remote="$1"
# a plain local path (a bare repository on disk) becomes a file:// URL: git-lfs refuses a remote without a protocol
if [[ "$remote" != *://* && "$remote" != *@*:* && -d "$remote" ]]; then
  remote="file://$(cd "$remote" && pwd)"
fi
root="$(git rev-parse --show-toplevel)"
command -v git-lfs >/dev/null || { echo "$0: needs git-lfs (apt-get install git-lfs)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/space"

# the snapshot: what git would commit here (tracked plus untracked-not-ignored files), as they are on disk
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$root" && xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh) |
  (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$tmp/space"

cd "$tmp/space"
git init -q -b main
git lfs install --local >/dev/null  # the LFS filters and pre-push hook, in the snapshot's .git only
# every file git would call binary (a NUL in its first 8000 bytes) becomes an LFS object
{
  echo "# written by tools/deploy_space.sh: the Hub takes binaries only as LFS objects"
  git ls-files -z --others --exclude-standard | while IFS= read -r -d '' f; do
    if [ "$(head -c 8000 "$f" | tr -dc '\000' | wc -c)" -gt 0 ]; then  # tr reads it all: no SIGPIPE under pipefail
      printf '%s filter=lfs diff=lfs merge=lfs -text\n' "$(printf '%s' "$f" | sed 's/[][ *?\\]/\\&/g')"
    fi
  done
} >> .gitattributes
git add -A
git -c user.name="$(git config user.name || echo 'convlstm deploy')" -c user.email="$(git config user.email || echo deploy@localhost)" \
  commit -q -m "Snapshot of $(git -C "$root" describe --always --dirty) for Hugging Face Spaces"
git push -q --force "$remote" HEAD:main
echo "pushed $(git rev-parse --short HEAD) to $remote: $(git lfs ls-files | wc -l) LFS objects"

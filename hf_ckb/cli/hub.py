"""`hf-ckb push` and `hf-ckb pull`: share a bundle (the CKB with its interfaces, hosts and exported networks) on the
Hugging Face Hub."""

from .errors import CLIError
from .options import Formatter

PUSH_HELP = "Push a bundle (CKB + interfaces + hosts + exported networks) to a Hub repo."
PUSH_DESCRIPTION = """\
Uploads the bundle in BUNDLE_DIR (the folder `hf-ckb quickstart` writes: the CKB at its root, interfaces/,
hosts/, exported/, results.json) to the model repo REPO_ID, creating the repo (and the branch --revision) if
needed. The repo then mirrors the bundle; other files in BUNDLE_DIR (e.g. checkpoints/) are not uploaded.

The CKB is committed first; every interface then records that commit (ckb_revision), so a stale pairing is
caught when pulled. The model card (README.md) lists the imported networks with their fidelity and accuracy; a
card you edited is kept (--refresh-card rewrites it). Log in first (`hf auth login` or HF_TOKEN)."""
PUSH_EPILOG = """\
examples:
  hf-ckb push ckb-quickstart my-name/my-ckb
  hf-ckb push ckb-quickstart my-name/my-ckb --revision retrained --commit-message "600 more import steps\""""

PULL_HELP = "Download a bundle (whole, or some networks) from a Hub repo into a folder."
PULL_DESCRIPTION = """\
Downloads the bundle REPO_ID (at --revision: a branch, tag or commit sha) into --output-dir: the CKB, and every
interface with its host network and tokenizer, the exported networks and results.json; or, with --interface,
the CKB and only those networks. Then checks that each interface was trained with this CKB (fingerprints).

Load the folder with `hf_ckb.Bundle.from_pretrained(DIR)`, or skip this command and load the repo directly:
`hf_ckb.Bundle.from_pretrained(REPO_ID)`."""
PULL_EPILOG = """\
examples:
  hf-ckb pull my-name/my-ckb --output-dir my-ckb
  hf-ckb pull my-name/my-ckb --revision retrained --interface rnn --output-dir my-ckb-rnn"""


def add_parser(subparsers):
    push = subparsers.add_parser("push", help=PUSH_HELP, description=PUSH_DESCRIPTION, epilog=PUSH_EPILOG,
                                 formatter_class=Formatter)
    push.add_argument("bundle_dir", metavar="BUNDLE_DIR", help="The bundle folder.")
    push.add_argument("repo_id", metavar="REPO_ID", help="The model repo, e.g. my-name/my-ckb.")
    push.add_argument("--revision", metavar="BRANCH", help="Branch to push to (created from main if missing).")
    push.add_argument("--private", action="store_true", help="Create the repo private (if it does not exist).")
    push.add_argument("--commit-message", metavar="M", help="Commit message.")
    push.add_argument("--refresh-card", action="store_true", help="Rewrite the model card even if it was edited.")
    push.set_defaults(run=run_push)

    pull = subparsers.add_parser("pull", help=PULL_HELP, description=PULL_DESCRIPTION, epilog=PULL_EPILOG,
                                 formatter_class=Formatter)
    pull.add_argument("repo_id", metavar="REPO_ID", help="The model repo, e.g. my-name/my-ckb.")
    pull.add_argument("--revision", metavar="R", help="Branch, tag or commit sha (default: main).")
    pull.add_argument("--interface", action="extend", nargs="+", metavar="NAME", dest="interfaces",
                      help="Pull only these networks' interfaces and hosts (with the CKB).")
    pull.add_argument("--output-dir", required=True, metavar="DIR", help="Folder that receives the bundle.")
    pull.add_argument("--allow-ckb-mismatch", action="store_true",
                      help="Keep interfaces trained with another CKB (warn instead of failing).")
    pull.set_defaults(run=run_pull)
    return push, pull


def _hub_errors(action, repo_id: str, revision: str | None):
    """Runs `action()`, turning the Hub's errors (and a Hub that cannot be reached) into one-line `CLIError`s."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (HfHubHTTPError, HFValidationError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    from ..layout import LegacyLayoutError

    unreachable = f"cannot reach the Hub at {constants.ENDPOINT}"
    try:
        return action()
    except RepositoryNotFoundError as err:
        raise CLIError(f"repository {repo_id!r} not found on {constants.ENDPOINT} (check the id; for a private repo, "
                       "log in with `hf auth login` or set HF_TOKEN).") from err
    except RevisionNotFoundError as err:
        raise CLIError(f"revision {revision!r} not found in {repo_id!r}.") from err
    except LocalEntryNotFoundError as err:
        raise CLIError(f"{unreachable}: {_first_line(err)}") from err
    except HfHubHTTPError as err:
        raise CLIError(f"the Hub refused the request: {_first_line(err)}") from err
    except (FileNotFoundError, HFValidationError, LegacyLayoutError) as err:
        raise CLIError(str(err)) from err
    except Exception as err:
        # the HTTP client's own transport errors (refused connection, timeout) have no common base with the above
        if any(cls.__name__ == "TransportError" for cls in type(err).__mro__) or isinstance(err, ConnectionError):
            raise CLIError(f"{unreachable} ({type(err).__name__}: {_first_line(err)}); check the network or "
                           "HF_ENDPOINT.") from err
        raise


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def run_push(args) -> int:
    import os

    from ..hub import push_bundle

    if not os.path.isdir(args.bundle_dir):
        raise CLIError(f"BUNDLE_DIR {args.bundle_dir!r} is not a folder.")
    info = _hub_errors(lambda: push_bundle(args.bundle_dir, args.repo_id, revision=args.revision,
                                           private=args.private or None, commit_message=args.commit_message,
                                           refresh_card=args.refresh_card), args.repo_id, args.revision)
    print(f"Pushed {args.bundle_dir} to {args.repo_id} (branch {args.revision or 'main'}, commit {info.oid}): "
          f"{info.commit_url}")
    return 0


def run_pull(args) -> int:
    from ..hub import check_bundle, download_bundle
    from ..layout import bundle_names
    from .output import check_output_dir

    check_output_dir(args.output_dir)
    path = _hub_errors(lambda: download_bundle(args.repo_id, revision=args.revision, interfaces=args.interfaces,
                                               local_dir=args.output_dir), args.repo_id, args.revision)
    stale = check_bundle(path, allow_ckb_mismatch=args.allow_ckb_mismatch)
    interfaces = bundle_names(path, "interfaces")
    exported = bundle_names(path, "exported")
    print(f"Pulled {args.repo_id} (revision {args.revision or 'main'}) into {path}: the CKB, interfaces "
          f"{', '.join(interfaces) or 'none'}; exported networks {', '.join(exported) or 'none'}.")
    if stale:
        print(f"warning: interfaces {', '.join(stale)} were trained with another CKB (--allow-ckb-mismatch).")
    return 0

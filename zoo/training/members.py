"""An ensemble's members, trained one after another in one run folder, resumable member by member."""

import dataclasses

import keras


def member_dirs(count, run_dir):
    """Where each of `count` members trains: the run folder itself for one, else `member-<k>/`."""
    return [run_dir] if count == 1 else [run_dir / f"member-{k}" for k in range(count)]


def train_members(count, run_dir, options, train_member):
    """`train_member(k, member_dir, member_options)` for k = 0 .. count - 1, one after the other, each
    with `options.max_minutes` / count. With `options.resume`, a member that finished in an earlier
    run (a `finished` file in its folder) is kept and the unfinished one continues. Returns the
    members' folders, each with its `best.keras`."""
    member_options = dataclasses.replace(options, max_minutes=options.max_minutes / count)
    folders = member_dirs(count, run_dir)
    for k, member_dir in enumerate(folders):
        finished = member_dir / "finished"
        if options.resume and finished.exists():
            print(f"member {k + 1} of {count}: finished in an earlier run ({member_dir})")
            continue
        print(f"member {k + 1} of {count}:")
        member_dir.mkdir(parents=True, exist_ok=True)
        train_member(k, member_dir, member_options)
        finished.touch()
        keras.backend.clear_session()
    return folders

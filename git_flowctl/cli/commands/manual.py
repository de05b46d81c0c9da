"""Help: `help COMMAND...`, and `completion bash|zsh|fish` (click's completion, plus `git flow-task`)."""

from __future__ import annotations

import difflib

import click

from git_flowctl.cli.common import get_output
from git_flowctl.model.errors import UsageError

SHELLS = ("bash", "zsh", "fish")
PROGRAM = "git-flow-task"


@click.command("help")
@click.argument("command", nargs=-1, metavar="[COMMAND]...")
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show the help of a command: `git flow-task help epic close`.

    `git help flow-task` (and `man git-flow-task`) opens the manual page with every command.
    """
    out = get_output()
    context = ctx.find_root()
    current: click.Command = context.command
    for depth, name in enumerate(command):
        if not isinstance(current, click.Group):
            raise UsageError(f"`{context.command_path}` has no subcommands",
                             hint=f"`git flow-task help {' '.join(command[:depth])}`")
        found = current.get_command(context, name)
        if found is None:
            choices = current.list_commands(context)
            close = difflib.get_close_matches(name, choices, n=3)
            raise UsageError(f"no command `{context.command_path} {name}`",
                             hint=f"did you mean {', '.join(close)}?" if close
                             else f"commands: {', '.join(choices)}")
        context = click.Context(found, info_name=name, parent=context)
        current = found
    text = current.get_help(context)
    if out.json_mode:
        out.emit({"command": context.command_path, "help": text})
    else:
        click.echo(text)


# `git flow-task <TAB>` goes through git's own completion, which calls a function named after the
# subcommand: `_git_flow_task` in bash (git-completion.bash), `_git-flow-task` in zsh (_git).
# click drops the first word it is given, so the words after the subcommand are all it needs.
_GIT_BASH = r"""
# `git flow-task <TAB>`: git-completion.bash calls _git_<subcommand>.
_git_flow_task() {
    local IFS=$'\n'
    local response completion type value
    local start=$(( ${__git_cmd_idx:-1} + 1 ))
    local -a args=("git-flow-task" "${COMP_WORDS[@]:start}")
    response=$(env COMP_WORDS="${args[*]}" COMP_CWORD=$((COMP_CWORD - start + 1)) \
%(complete_var)s=bash_complete git-flow-task)
    for completion in $response; do
        IFS=',' read type value <<< "$completion"
        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=($value)
        fi
    done
    return 0
}
"""

_GIT_ZSH = r"""
# `git flow-task <TAB>`: zsh's _git calls _git-<subcommand>.
_git-flow-task() {
    %(complete_func)s "$@"
}
"""

_GIT_FISH = r"""
# `git flow-task <TAB>`: complete git's subcommand with the words after it.
function %(complete_func)s_git;
    set -l words (commandline -cp | string replace -r '^\s*git\s+(?:-\S+\s+)*flow-task' 'git-flow-task');
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=$words \
COMP_CWORD=(commandline -t) git-flow-task);

    for completion in $response;
        set -l metadata (string split "," $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories $metadata[2];
        else if test $metadata[1] = "file";
            __fish_complete_path $metadata[2];
        else if test $metadata[1] = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command git --condition '__fish_seen_subcommand_from flow-task' \
--arguments "(%(complete_func)s_git)";
complete --no-files --command git --condition '__fish_use_subcommand' --arguments flow-task \
--description 'Epics and tasks in the repository';
"""


def completion_script(shell: str) -> str:
    from click.shell_completion import get_completion_class

    from git_flowctl.cli import COMPLETE_VAR, cli

    completion_class = get_completion_class(shell)
    if completion_class is None:
        raise UsageError(f"no completion for {shell}", hint=f"one of {', '.join(SHELLS)}")
    completer = completion_class(cli, {}, PROGRAM, COMPLETE_VAR)
    extra = {"bash": _GIT_BASH, "zsh": _GIT_ZSH, "fish": _GIT_FISH}[shell]
    return completer.source() + extra % {"complete_func": completer.func_name,
                                         "complete_var": COMPLETE_VAR}


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_command(shell: str) -> None:
    """Print the completion script for SHELL, for `git flow-task` and `git-flow-task`.

    bash: add `eval "$(git flow-task completion bash)"` to ~/.bashrc. zsh: add `eval "$(git
    flow-task completion zsh)"` to ~/.zshrc after compinit. fish: `git flow-task completion fish
    > ~/.config/fish/conf.d/git-flow-task.fish`.
    """
    out = get_output()
    script = completion_script(shell)
    if out.json_mode:
        out.emit({"shell": shell, "script": script})
    else:
        click.echo(script, nl=False)

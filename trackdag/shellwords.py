r"""What bash would make of a job's command: is it one program it can ``exec``, and with which words.

``invoke.sh`` ends with ``exec <command>`` when the command is one program
with its arguments (:func:`simple_command`), so that a signal that kills the
program reaches trackdag as that signal.  When, moreover, bash would only
split the command into words and take the quotes off (:func:`direct_argv`:
plain words and single-quoted ones, nothing to expand), the runner starts
those words itself in the job's folder, with the environment ``invoke.sh``
would give them: one process start per job instead of two (bash, then the
program: about 1 ms of CPU a job).  ``bash invoke.sh`` stays the record, the
way to redo the job by hand, and what runs for every other command.

Example:
    >>> direct_argv("prog --x=1 'a b' --y=it'\"'s \\\n  --z")
    ('prog', '--x=1', 'a b', '--y=it"s', '--z')
    >>> direct_argv("echo $HOME") is None, direct_argv("prog | tee log") is None, direct_argv("A=1 prog") is None
    (True, True, True)
"""
from __future__ import annotations

import re
import shlex

_SHELL_WORDS = frozenset({"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
                          "function", "time", "!", "{", "}", "[[", "]]", "cd", "source", ".", "export", "set",
                          "unset", "exec", "eval", "alias", "builtin", "command", "declare", "local", "readonly",
                          "return", "shift", "trap", "ulimit", "umask", "wait"})


_PUNCTUATION = frozenset("();<>|&")
_SINGLE_QUOTED = re.compile(r"'[^']*'")
#: a line continuation between words, as a plan's commands are joined
_CONTINUATION = re.compile(r"(?<=[ \t])\\\n(?=[ \t])")
#: what only shlex reads right: double quotes, backslashes, comments, line breaks, unpaired quotes, operators
_NEEDS_SHLEX = re.compile(r"""[();<>|&"\\#\n\r']""")


def simple_command(command: str) -> bool:
    """True when ``command`` is one program with arguments, which bash can ``exec``.

    >>> simple_command("python -m pkg.mod '--x=a; b'"), simple_command("prog | tee log"), simple_command("A=1 prog")
    (True, False, False)
    """
    fast = _simple_plain(command)
    return fast if fast is not None else _simple_shlex(command)


def _simple_plain(command: str) -> "bool | None":
    """:func:`simple_command` of a command of plain words and single-quoted ones (a plan's), or None.

    Written for the commands trackdag renders (``shlex.quote``'s words), where
    shlex costs more than the rest of a job's folder; anything else is left to
    :func:`_simple_shlex` (a property test holds the two equal).
    """
    quoted = _SINGLE_QUOTED.findall(command)
    if any(len(q) > 2 and set(q[1:-1]) <= _PUNCTUATION for q in quoted):
        return None  # a quoted word of operators only: shlex's rule (it sees the word, not the quotes)
    bare = "x".join(_SINGLE_QUOTED.split(command))  # each quoted part is one word character's worth
    bare = _CONTINUATION.sub(" ", bare)  # shlex reads " \\<newline> " as a word "\n", which is dropped
    if _NEEDS_SHLEX.search(bare):
        return None
    words = [w for w in bare.replace("\t", " ").split(" ") if w]
    if not words:
        return False
    if "'" in _CONTINUATION.sub(" ", command).lstrip(" \t").replace("\t", " ").split(" ", 1)[0]:
        return None  # the program's own word is quoted (after any continuation): shlex knows what it is
    first = words[0]
    return not (first in _SHELL_WORDS or "=" in first.split("/")[0])


def _simple_shlex(command: str) -> bool:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = [w for w in lexer if w != "\n"]
    except ValueError:  # unbalanced quotes: leave it to bash
        return False
    if not words or words[0] in _SHELL_WORDS or "=" in words[0].split("/")[0]:
        return False
    return not any(w and set(w) <= set("();<>|&") for w in words)


#: the pieces of a command bash only splits and unquotes: shlex.quote's plain characters (nothing bash
#: expands), single-quoted text, blanks, and a backslash-newline (a line continuation, which bash removes)
_DIRECT_TOKEN = re.compile(r"(?P<plain>[A-Za-z0-9_@%+=:,./-]+)|'(?P<quoted>[^'\x00]*)'"
                           r"|(?P<blank>[ \t]+)|(?P<cont>\\\n)")
#: (one character or one quoted part at a time: alternatives that begin differently, so no backtracking)
_ALL_DIRECT = re.compile(r"(?:[A-Za-z0-9_@%+=:,./ \t-]|'[^'\x00]*'|\\\n)+")
_PLAIN_ONLY = re.compile(r"[A-Za-z0-9_@%+=:,./ -]+")


def direct_argv(command: str) -> "tuple[str, ...] | None":
    """The words bash would ``exec`` for ``command``, when it would do nothing else to it; else None.

    None for anything with expansions (``$``, globs, ``~``, braces,
    backquotes), double quotes or backslashes (but a line continuation),
    several commands, or what :func:`simple_command` does not let
    ``invoke.sh`` exec (a shell word, an assignment first).
    """
    if _PLAIN_ONLY.fullmatch(command):  # the usual plan command: plain words and spaces
        argv = tuple(w for w in command.split(" ") if w)
        # (simple_command of plain words: a program first, not a shell word or an assignment)
        if not argv or argv[0] in _SHELL_WORDS or "=" in argv[0].split("/")[0]:
            return None
        return argv
    if _ALL_DIRECT.fullmatch(command):
        words: list[str] = []
        word: "str | None" = None  # the word being read (None between words)
        for token in _DIRECT_TOKEN.finditer(command):
            kind = token.lastgroup
            if kind == "blank":
                if word is not None:
                    words.append(word)
                word = None
            elif kind != "cont":  # a continuation joins what is around it
                word = (word or "") + token.group(kind)
        if word is not None:
            words.append(word)
        argv = tuple(words)
    else:
        return None
    if not argv or not simple_command(command):
        return None
    return argv

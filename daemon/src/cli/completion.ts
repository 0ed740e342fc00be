// `raftctl completion bash|zsh`: shell completion scripts generated from the help table
// (help.ts), so every command, subcommand and flag raftctl accepts is completed and nothing else.
// Written by hand rather than with a completion library: raftctl's parser is its own (args.ts)
// and the scripts are a few dozen lines of plain shell.
import type { CompletionShell } from './args.js';
import { COMMANDS, GLOBAL_FLAGS } from './help.js';
import type { CommandHelp } from './help.js';

/** Global flags that take a value (the word after them is skipped when finding the command). */
const VALUED_GLOBALS = ['--endpoints', '--timeout', '--timeout-ms', '--token', '--token-file', '--cacert', '--cert', '--key', '-w', '--write-out'];

/** The flag words of a help table: `--if-match REV` → `--if-match`; `-w, --write-out F` → both. */
function flagWords(flags: readonly (readonly [string, string])[]): string[] {
  const out: string[] = [];
  for (const [spec] of flags) for (const m of spec.matchAll(/(?:^|[ ,])(--?[a-z][a-z-]*)/g)) out.push(m[1] as string);
  return [...new Set(out)];
}

function commandFlags(c: CommandHelp): string[] {
  return [...flagWords(c.flags ?? []), '--help', '-w'];
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

function bashScript(): string {
  const cases = COMMANDS.map((c) => `    ${c.name}${c.name === 'del' ? '|delete' : ''}) subs=${shellWord((c.subcommands ?? []).join(' ') || '-')}; flags=${shellWord(commandFlags(c).join(' '))} ;;`);
  return `# bash completion for raftctl. Load it with:  source <(raftctl completion bash)
_raftctl() {
  local cur prev cmd="" sub="" i w subs flags
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    -w|--write-out) COMPREPLY=($(compgen -W "simple json table" -- "$cur")); return ;;
    --cacert|--cert|--key|--token-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --endpoints|--timeout|--timeout-ms|--token) COMPREPLY=(); return ;;
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${VALUED_GLOBALS.join('|')}) ((i++)); continue ;;
      -*) continue ;;
    esac
    if [ -z "$cmd" ]; then cmd="$w"; elif [ -z "$sub" ]; then sub="$w"; fi
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W "${COMMANDS.map((c) => c.name).join(' ')} ${flagWords(GLOBAL_FLAGS).join(' ')}" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases.join('\n')}
    help) subs="${COMMANDS.map((c) => c.name).join(' ')}"; flags="" ;;
    *) subs="-"; flags="" ;;
  esac
  if [ -z "$sub" ] && [ "$subs" != "-" ] && [[ "$cur" != -* ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -W "$flags" -- "$cur"))
}
complete -o default -F _raftctl raftctl
`;
}

function zshScript(): string {
  // _describe splits NAME:DESCRIPTION at the first colon; command names have none.
  const described = COMMANDS.map((c) => `    '${c.name}:${c.summary.replace(/'/g, "'\\''")}'`);
  const cases = COMMANDS.map((c) => `    ${c.name}${c.name === 'del' ? '|delete' : ''}) subs=(${(c.subcommands ?? []).join(' ')}); flags=(${commandFlags(c).join(' ')}) ;;`);
  return `#compdef raftctl
# zsh completion for raftctl. Load it with:  source <(raftctl completion zsh)   (after compinit),
# or save it as _raftctl in a directory of $fpath.
_raftctl() {
  local -a commands subs flags
  local cmd="" sub="" i w
  commands=(
${described.join('\n')}
  )
  case \${words[CURRENT-1]} in
    -w|--write-out) compadd simple json table; return ;;
    --cacert|--cert|--key|--token-file) _files; return ;;
    --endpoints|--timeout|--timeout-ms|--token) return ;;
  esac
  for (( i = 2; i < CURRENT; i++ )); do
    w=\${words[i]}
    case $w in
      ${VALUED_GLOBALS.join('|')}) (( i++ )); continue ;;
      -*) continue ;;
    esac
    if [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi
  done
  if [[ -z $cmd ]]; then
    if [[ \${words[CURRENT]} == -* ]]; then compadd -- ${flagWords(GLOBAL_FLAGS).join(' ')}; else _describe 'command' commands; fi
    return
  fi
  case $cmd in
${cases.join('\n')}
    help) subs=(${COMMANDS.map((c) => c.name).join(' ')}); flags=() ;;
    *) subs=(); flags=() ;;
  esac
  if [[ -z $sub && \${#subs} -gt 0 && \${words[CURRENT]} != -* ]]; then
    compadd -- $subs
    return
  fi
  compadd -- $flags
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _raftctl "$@"
else
  compdef _raftctl raftctl
fi
`;
}

/** The completion script for a shell. */
export function completionScript(shell: CompletionShell): string {
  return shell === 'bash' ? bashScript() : zshScript();
}

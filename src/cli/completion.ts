import type { Command, CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext } from './context.js';
import { EXIT } from './exit.js';
import { usage } from './parse.js';

/** Every command path (`''`, `image`, `image ls`, …) with its subcommands and options. */
function commandTable(program: CommandUnknownOpts): Map<string, { commands: string[]; options: string[] }> {
  const table = new Map<string, { commands: string[]; options: string[] }>();
  // A command takes its own options and those of every command above it (--json, --store, -i).
  const walk = (c: CommandUnknownOpts, path: string[], inherited: string[]) => {
    const opts = [...inherited, ...c.options.flatMap((o) => [o.short, o.long].filter((x): x is string => typeof x === 'string'))];
    table.set(path.join(' '), { commands: c.commands.map((s) => s.name()).filter((n) => n !== 'help'), options: [...new Set([...opts, '--help'])] });
    for (const s of c.commands) walk(s, [...path, s.name()], opts);
  };
  walk(program, [], []);
  return table;
}

/**
 * A bash function built from the command tree, so it never falls behind it. Names after `-i`
 * come from the store at the moment of completion (`bootport ls`, `image ls`, `node ls`, with
 * the same `--store` as the command line), and file arguments from the file system.
 */
function bashScript(program: CommandUnknownOpts): string {
  const cases = [...commandTable(program)].map(([path, t]) => `    "${path}") cmds="${t.commands.join(' ')}"; opts="${t.options.join(' ')}" ;;`).join('\n');
  return `# bootport completion for bash (and zsh through bashcompinit): eval "$(bootport completion bash)"
_bootport() {
  local cur prev path="" store="" cmds="" opts="" w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      --store) store="\${COMP_WORDS[i+1]}"; i=$((i + 1)) ;;
      -i|--ids|-o|--output|-C|--directory|--threads|--engine|--key|--sign|--trust|--name|--comment|--sign-comment|--image|--image-name|--boot-config|--kernel|--initramfs|--cmdline|--description|--boot-style|--level|--chunk-size|--image-size|--split-size) i=$((i + 1)) ;;
      -*) ;;
      *) case "\${path:+$path }$w" in
${[...commandTable(program).keys()]
  .filter((p) => p !== '')
  .map((p) => `           "${p}") path="${p}" ;;`)
  .join('\n')}
         esac ;;
    esac
  done
  case "$prev" in
    -i|--ids)
      local kind="ls"
      case "$path" in image*) kind="image ls" ;; node*) kind="node ls" ;; esac
      COMPREPLY=($(compgen -W "$(bootport \${store:+--store "$store"} $kind --no-progress 2>/dev/null)" -- "$cur"))
      return ;;
    --engine) COMPREPLY=($(compgen -W "auto native fallback" -- "$cur")); return ;;
    --store|-C|--directory) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    -o|--output|--key|--sign|--trust|--kernel|--initramfs|--image) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  case "$path" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ -n "$cmds" ]]; then COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
  else COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _bootport bootport
`;
}

export function registerCompletion(program: Command, ctx: CommandContext): void {
  program
    .command('completion')
    .description('print a shell completion script: eval "$(bootport completion bash)", or zsh')
    .argument('<shell>', 'bash or zsh')
    .action(
      ctx.action(async (_opts, _cmd, shell: string) => {
        if (shell !== 'bash' && shell !== 'zsh') throw usage(`completion is for bash or zsh, not ${shell}`);
        const script = bashScript(program);
        // zsh runs the bash function through its bashcompinit layer.
        ctx.io.stdout.write(shell === 'zsh' ? `autoload -U +X bashcompinit && bashcompinit\n${script}` : script);
        return EXIT.OK;
      }),
    );
}

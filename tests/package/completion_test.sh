#!/bin/bash
# completion_test: the bash completions of tools/completion/ complete what their tool takes:
# commands, options (per command for connectx-guard), technique lists and fill orders.
set -u
src=$1
# shellcheck disable=SC1091
source /usr/share/bash-completion/bash_completion || { echo "no bash-completion" >&2; exit 1; }
failed=0

# complete LINE: COMPREPLY for the last word of LINE, as bash would ask on TAB.
complete_line() {
    local line=$1 func
    read -ra COMP_WORDS <<< "$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    func=$(complete -p "${COMP_WORDS[0]}" | sed 's/.*-F \([^ ]*\) .*/\1/')
    "$func" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    ((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
# compopt works only inside a completion bash itself started: a no-op here.
compopt() { :; }

expect() {
    local line=$1 want=$2 got
    got=$(complete_line "$line")
    if [[ $got != "$want" ]]; then
        echo "FAIL: '$line' completed to '$got', want '$want'" >&2
        failed=1
    fi
}

for tool in connectx-stress connectx-guard connectx-ports connectx-exec; do
    # shellcheck disable=SC1090
    source "$src/tools/completion/$tool" || { echo "cannot source $tool" >&2; exit 1; }
done

expect "connectx-guard " "attach detach status "
expect "connectx-guard -j st" "status "
expect "connectx-guard attach --f" "--force-root "
expect "connectx-guard detach --f" ""
expect "connectx-guard status --p" "--pin --pretty "
expect "connectx-stress --fill s" "sequential "
expect "connectx-stress -t udp-connectx,tcp-b" "udp-connectx,tcp-bind "
expect "connectx-stress --pl" "--plot "
expect "connectx-stress --ver" "--version "
expect "connectx-stress --c" "--count --csv "
expect "connectx-stress --cx" ""
expect "connectx-stress --so" "--sources "
expect "connectx-ports --p" "--prometheus "
expect "connectx-ports --w" "--watch "
expect "connectx-ports --n" "--netns "
expect "connectx-ports --t" "--tcp --top "
expect "connectx-exec --poo" "--pool "

if ((failed)); then exit 1; fi
echo "completions ok"

#!/bin/sh
# bpfvm cbpf and bpfvm seccomp as a user runs them: cli_test.sh BPFVM DATA_DIR
set -eu
bpfvm=$1
data=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect "what" "wanted output" command...
    what=$1; want=$2; shift 2
    got=$("$@" 2>&1) || true
    [ "$got" = "$want" ] || fail "$what: got [$got], want [$want]"
}
expect "asm -d" "(000) ldh      [12]
(001) jeq      #0x806           jt 2	jf 3
(002) ret      #-1
(003) ret      #0" "$bpfvm" cbpf asm "$data/arp.bpf" --format d
expect "asm -ddd" "4
40 0 0 12
21 0 1 2054
6 0 0 4294967295
6 0 0 0" "$bpfvm" cbpf asm "$data/arp.bpf" --format ddd
# -ddd back to bpf_asm through stdin.
"$bpfvm" cbpf asm "$data/arp.bpf" --format ddd | "$bpfvm" cbpf asm - > /tmp/cbpf_cli_$$.txt
expect "ddd to bpf_asm" "    ldh [12]
    jne #0x806, L3
    ret #4294967295
L3:
    ret #0" cat /tmp/cbpf_cli_$$.txt
rm -f /tmp/cbpf_cli_$$.txt
expect "check" "$data/arp.bpf: 4 instructions, accepted (linux rules)" "$bpfvm" cbpf check "$data/arp.bpf"
expect "run arp" "4294967295" "$bpfvm" cbpf run "$data/arp.bpf" --packet ffffffffffff0011223344550806
expect "run ip" "0" "$bpfvm" cbpf run "$data/arp.bpf" --packet ffffffffffff0011223344550800 --engine interp
expect "run short" "0" "$bpfvm" cbpf run "$data/arp.bpf" --packet ffff
expect "translate" "       0:	w0 ^= w0
       1:	w7 ^= w7
       2:	r6 = r1
       3:	r0 = *(u16 *)skb[12]
       4:	if r0 != 2054 goto +2
       5:	w0 = -1
       6:	exit
       7:	w0 = 0
       8:	exit" "$bpfvm" cbpf translate "$data/arp.bpf"
printf 'ld M[1]\nret a\n' > /tmp/cbpf_bad_$$.bpf
expect "check refuses" "bpfvm: /tmp/cbpf_bad_$$.bpf: instruction 0: M[1] is read before it is written on some path" \
    "$bpfvm" cbpf check /tmp/cbpf_bad_$$.bpf
rm -f /tmp/cbpf_bad_$$.bpf
expect "seccomp" "nr=1 arch=0xc000003e args=0x1,0x2: ALLOW
nr=2 arch=0xc000003e: ERRNO(1)
nr=59 arch=0x40000003: KILL_THREAD" "$bpfvm" seccomp "$data/seccomp.bpf" -r 'nr=1 args=1,2' -r nr=2 -r 'nr=59 arch=i386'
expect "seccomp bad record" "bpfvm: --record 1: unknown key 'foo' (nr, arch, ip, args, arg0..arg5)" \
    "$bpfvm" seccomp "$data/seccomp.bpf" -r 'nr=1 foo=2'
echo "cbpf cli: all passed"

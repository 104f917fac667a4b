# The Internet checksum (RFC 1071) of an IPv4 header, in the LLVM/kernel
# assembly syntax. r1 points to the header, r2 holds its length in bytes.
# Returns the checksum the header's checksum field must hold: run it on a
# header whose checksum field is zero.
#
#   bpfvm run examples/checksum.s --mem examples/ipv4-header.bin

        r0 = 0                      # running sum
        r3 = 0                      # offset
loop:
        r4 = r3
        r4 += 2
        if r4 > r2 goto odd         # fewer than two bytes left
        r5 = r1
        r5 += r3
        r6 = *(u16 *)(r5 + 0)       # 16-bit words in network byte order
        r6 = be16 r6
        r0 += r6
        r3 = r4
        goto loop
odd:
        if r3 >= r2 goto fold
        r5 = r1
        r5 += r3
        r6 = *(u8 *)(r5 + 0)        # a last odd byte is the high half of a word
        r6 <<= 8
        r0 += r6
fold:
        r4 = r0
        r4 >>= 16
        if r4 == 0 goto done        # fold the carries back in
        r0 &= 0xffff
        r0 += r4
        goto fold
done:
        r0 ^= 0xffff
        exit

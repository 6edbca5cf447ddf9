{
  # bootport's native piece engine (native/pieces.c) and its resident buffers (native/resident.c),
  # with BLAKE3's C implementation, vendored in native/blake3 (see its README). On x86-64 Unix the
  # SIMD kernels are BLAKE3's own assembly, chosen at run time by CPU; elsewhere the portable code.
  "targets": [
    {
      "target_name": "bootport_pieces",
      "sources": ["native/pieces.c", "native/resident.c", "native/blake3/blake3.c", "native/blake3/blake3_dispatch.c", "native/blake3/blake3_portable.c"],
      "cflags": ["-O3", "-std=c11"],
      "conditions": [
        [
          "target_arch == 'x64' and OS != 'win'",
          {
            "sources": [
              "native/blake3/blake3_sse2_x86-64_unix.S",
              "native/blake3/blake3_sse41_x86-64_unix.S",
              "native/blake3/blake3_avx2_x86-64_unix.S",
              "native/blake3/blake3_avx512_x86-64_unix.S"
            ]
          },
          { "defines": ["BLAKE3_NO_SSE2", "BLAKE3_NO_SSE41", "BLAKE3_NO_AVX2", "BLAKE3_NO_AVX512"] }
        ]
      ]
    }
  ]
}

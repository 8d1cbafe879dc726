/*
 * compiler.h - attributes and tiny macros every module uses.
 *
 * Header only: nothing here has state or a .c file.
 */
#ifndef SP_COMPILER_H
#define SP_COMPILER_H

#define SP_MUST_CHECK     __attribute__((warn_unused_result))
#define SP_PRINTF(f, a)   __attribute__((format(printf, f, a)))
#define SP_LIKELY(x)      __builtin_expect(!!(x), 1)
#define SP_ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define SP_CACHELINE      64
#define SP_ALIGN_UP(x, a) (((x) + ((a) -1)) & ~((a) -1))

/* A spin-wait hint to the CPU (x86 PAUSE); nothing elsewhere. */
#if defined(__x86_64__) || defined(__i386__)
#define SP_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define SP_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define SP_CPU_RELAX() ((void) 0)
#endif

#endif

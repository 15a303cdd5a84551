// Branch hints for the hot path.
#pragma once

#if defined(__GNUC__)
#define PYTHEUS_LIKELY(x) __builtin_expect(!!(x), 1)
#define PYTHEUS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PYTHEUS_LIKELY(x) (x)
#define PYTHEUS_UNLIKELY(x) (x)
#endif

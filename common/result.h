// Result<T>: the error vocabulary of scagent.
//
// Every call that can fail for environmental reasons returns Result<T>. The error carries a code,
// the errno that caused it (0 when none) and a message that reads
// `failed to <verb> '<object>': <cause>`. Result is [[nodiscard]] and has no implicit bool
// conversion; ask ok() or has_value().
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace sc {

enum class ErrorCode {
  kInternal,
  kInvalidArgument,     // the caller's input is wrong
  kNotFound,            // a named object does not exist
  kAlreadyExists,       // a named object exists and must not
  kFailedPrecondition,  // the host or state is not as required
  kUnavailable,         // a peer did not answer
  kTimeout,             // a deadline passed
  kPermission,          // the kernel or a peer refused
  kInjected,            // a failpoint fired
};

std::string_view errorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  int sys_errno = 0;
  std::string message;

  // Prefixes one clause of context: "failed to <verb> '<object>': " + message.
  Error context(std::string_view verb, std::string_view object) const&;
  Error context(std::string_view verb, std::string_view object) &&;
};

// Builds `failed to <verb> '<object>': <cause>`.
Error makeError(ErrorCode code, std::string_view verb, std::string_view object, std::string_view cause);
// The same with strerror(err) as the cause; keeps errno in the error.
Error errnoError(int err, std::string_view verb, std::string_view object);
// A plain error whose message is taken as given (for validation messages and the like).
Error plainError(ErrorCode code, std::string message);

template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result(const T& v) : r_(v) {}        // NOLINT: implicit by design
  Result(T&& v) : r_(std::move(v)) {}  // NOLINT
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, Error> &&
           !std::is_same_v<std::remove_cvref_t<U>, Result>) Result(U&& v)
      : r_(T(std::forward<U>(v))) {}                      // NOLINT
  Result(Error e) : r_(std::unexpected(std::move(e))) {}  // NOLINT

  bool ok() const { return r_.has_value(); }
  bool has_value() const { return r_.has_value(); }
  T& value() & { return *r_; }
  const T& value() const& { return *r_; }
  T&& value() && { return std::move(*r_); }
  T& operator*() & { return *r_; }
  const T& operator*() const& { return *r_; }
  T&& operator*() && { return std::move(*r_); }
  T* operator->() { return &*r_; }
  const T* operator->() const { return &*r_; }
  const Error& error() const& { return r_.error(); }
  Error&& error() && { return std::move(r_.error()); }

 private:
  std::expected<T, Error> r_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : r_(std::unexpected(std::move(e))) {}  // NOLINT
  bool ok() const { return r_.has_value(); }
  bool has_value() const { return r_.has_value(); }
  const Error& error() const& { return r_.error(); }
  Error&& error() && { return std::move(r_.error()); }

 private:
  std::expected<void, Error> r_;
};

inline Result<void> ok() { return {}; }

}  // namespace sc

#define SC_CONCAT_INNER(a, b) a##b
#define SC_CONCAT(a, b) SC_CONCAT_INNER(a, b)

// SC_TRY(expr): returns the error of a failed Result<...> expression from the enclosing function.
#define SC_TRY(expr)                            \
  do {                                          \
    auto&& sc_try_result_ = (expr);             \
    if (!sc_try_result_.ok()) {                 \
      return std::move(sc_try_result_).error(); \
    }                                           \
  } while (false)

// SC_TRY_CTX(expr, verb, object): the same, adding one `failed to <verb> '<object>': ` clause.
#define SC_TRY_CTX(expr, verb, object)                                    \
  do {                                                                    \
    auto&& sc_try_result_ = (expr);                                       \
    if (!sc_try_result_.ok()) {                                           \
      return std::move(sc_try_result_).error().context((verb), (object)); \
    }                                                                     \
  } while (false)

// SC_ASSIGN_OR_RETURN(lhs, expr): `lhs = value` or return the error. Expands to several statements.
#define SC_ASSIGN_OR_RETURN(lhs, expr) SC_ASSIGN_OR_RETURN_IMPL(SC_CONCAT(sc_aor_, __LINE__), lhs, expr)
#define SC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) {                               \
    return std::move(tmp).error();               \
  }                                              \
  lhs = std::move(tmp).value()

#include "common/result.h"

#include <cstring>

namespace sc {

std::string_view errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kInvalidArgument:
      return "invalid-argument";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kAlreadyExists:
      return "already-exists";
    case ErrorCode::kFailedPrecondition:
      return "failed-precondition";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kPermission:
      return "permission";
    case ErrorCode::kInjected:
      return "injected";
  }
  return "unknown";
}

static std::string failedTo(std::string_view verb, std::string_view object, std::string_view cause) {
  std::string m;
  m.reserve(verb.size() + object.size() + cause.size() + 16);
  m.append("failed to ").append(verb).append(" '").append(object).append("': ").append(cause);
  return m;
}

Error Error::context(std::string_view verb, std::string_view object) const& {
  Error e = *this;
  e.message = failedTo(verb, object, message);
  return e;
}

Error Error::context(std::string_view verb, std::string_view object) && {
  message = failedTo(verb, object, message);
  return std::move(*this);
}

Error makeError(ErrorCode code, std::string_view verb, std::string_view object, std::string_view cause) {
  return Error{code, 0, failedTo(verb, object, cause)};
}

Error errnoError(int err, std::string_view verb, std::string_view object) {
  ErrorCode code = ErrorCode::kInternal;
  switch (err) {
    case ENOENT:
      code = ErrorCode::kNotFound;
      break;
    case EEXIST:
      code = ErrorCode::kAlreadyExists;
      break;
    case EPERM:
    case EACCES:
      code = ErrorCode::kPermission;
      break;
    case ETIMEDOUT:
      code = ErrorCode::kTimeout;
      break;
    case EINVAL:
      code = ErrorCode::kInvalidArgument;
      break;
    default:
      break;
  }
  return Error{code, err, failedTo(verb, object, std::strerror(err))};
}

Error plainError(ErrorCode code, std::string message) { return Error{code, 0, std::move(message)}; }

}  // namespace sc

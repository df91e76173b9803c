#pragma once

// Checks of identity requests, before anything is read: INVALID_ARGUMENT naming the field (as
// the request spells it); messages never quote values. No I/O (AdmitRegistration also
// normalises the request's identifiers in place).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hie/common/v1/common.pb.h"
#include "hie/identity/v1/identity.pb.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/identity/core/authorization.h"
#include "services/identity/core/call_context.h"
#include "services/identity/core/identifiers.h"

namespace hie::identity {

using ::hie::common::v1::SourceId;

// `value` is present, at most `max` bytes, without control characters.
absl::Status RequireText(const std::string& value, const char* field, size_t max = 256);

// Every string of every request, whatever the entry point: UTF-8, no control characters, at most
// this long (fields with tighter limits check them too).
constexpr size_t kMaxTextBytes = 1024;

// The first check of every operation: the request's text, and what the actor may touch.
template <typename Request>
absl::Status Admit(const CallContext& call, const Request& request, Operation op,
                   const std::vector<NamedSource>& sources = {}) {
  HIE_RETURN_IF_ERROR(CheckMessageText(request, kMaxTextBytes));
  return CheckActorScope(call.actor, op, sources);
}

absl::Status ValidateSourceId(const SourceId& id, const std::string& field);
absl::Status ValidateContext(const hie::common::v1::RequestContext& context);
// Names, dates, identifiers, addresses and contact points of a registration (`field` prefixes
// the names in errors).
absl::Status ValidateDemographics(const hie::common::v1::Demographics& d, const std::string& field);
// The context and idempotency key of every write.
absl::Status ValidateWrite(const hie::common::v1::RequestContext& context,
                           const std::string& idempotency_key);

// A registration's context, idempotency key, source id and demographics.
absl::Status ValidateRegistration(const v1::RegisterSourceRecordRequest& request);
// A registration as the rules see it: identifiers normalised or dropped (warnings name them,
// `field_prefix` locating the entry in its request), then admitted (Admit) and checked. The same
// request always gives the same result, so a retry sees the same warnings.
absl::Status AdmitRegistration(const CallContext& call, const std::string& field_prefix,
                               v1::RegisterSourceRecordRequest* request,
                               std::vector<hie::common::v1::FieldWarning>* warnings);

// Page tokens of the list operations are offsets, opaque to clients.
absl::StatusOr<int> ParsePageToken(const std::string& token);

}  // namespace hie::identity

// libFuzzer target gateway_fuzz: the first byte chooses the input (mod 5), the rest is
//   0  a member directory file's text (ParseMemberDirectory, core/member_directory.h);
//   1  a serialized FindOutsideRecordsRequest: its context through MemberQueryContext (a member
//      certificate of clinic-a) and the request through ValidateFindOutsideRecords;
//   2  a serialized RetrieveDocumentRequest: the same context, ValidateRetrieveDocument;
//   3  a serialized PublishDocumentsRequest through MemberWriteContext and PublicationOf;
//   4  a serialized FeedPatientRequest through MemberWriteContext and RegistrationOf.
// No crash, no hang, and: a directory parsed is parsed again identically, and every member in it
// has an org, an endpoint, a state and max_results 1..1000; an accepted context names the
// certificate's org as the actor; an accepted publication names only the caller's org in every
// entry's patient and location; an accepted feed registers the caller's own record.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "services/gateway/core/member_access.h"
#include "services/gateway/core/member_directory.h"
#include "services/gateway/core/member_writes.h"
#include "services/gateway/core/retrieval.h"

namespace {

using namespace hie::gateway;  // NOLINT: a fuzz target's few names

const hie::PeerIdentity kClinicA{"clinic-a", "member", "clinic-a"};

void Require(bool invariant) {
  if (!invariant) std::abort();
}

void Directory(const std::string& text) {
  auto parsed = ParseMemberDirectory(text);
  auto again = ParseMemberDirectory(text);
  Require(parsed.ok() == again.ok());
  if (!parsed.ok()) return;
  Require(parsed->size() == again->size());
  for (const auto& [org, member] : *parsed) {
    Require(!org.empty() && org == member.entry.org && !member.endpoint.empty());
    Require(member.entry.max_results >= 1 && member.entry.max_results <= 1000);
    Require(member.entry.state != v1::MEMBER_STATE_UNSPECIFIED);
    Require(again->at(org).endpoint == member.endpoint);
  }
}

template <typename Request>
bool Parse(const std::string& bytes, Request* r) {
  return r->ParseFromString(bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const absl::Time now = absl::Now();
  switch (data[0] % 5) {
    case 0:
      Directory(rest);
      break;
    case 1: {
      v1::FindOutsideRecordsRequest r;
      if (!Parse(rest, &r)) break;
      auto context = MemberQueryContext(kClinicA, r.context(), "gw-fuzz", now);
      if (context.ok()) Require(context->actor().org() == "clinic-a");
      (void)ValidateFindOutsideRecords(r);
      break;
    }
    case 2: {
      v1::RetrieveDocumentRequest r;
      if (!Parse(rest, &r)) break;
      (void)MemberQueryContext(kClinicA, r.context(), "gw-fuzz", now);
      (void)ValidateRetrieveDocument(r);
      break;
    }
    case 3: {
      v1::PublishDocumentsRequest r;
      if (!Parse(rest, &r)) break;
      auto context = MemberWriteContext(kClinicA, r.context(), "gw-fuzz", now);
      if (!context.ok()) break;
      Require(context->actor().org() == "clinic-a");
      auto publication = PublicationOf(*context, r);
      if (!publication.ok()) break;
      for (const auto& e : publication->entries()) {
        Require(e.patient().org() == "clinic-a" && e.location().member_org() == "clinic-a");
      }
      break;
    }
    case 4: {
      v1::FeedPatientRequest r;
      if (!Parse(rest, &r)) break;
      auto context = MemberWriteContext(kClinicA, r.context(), "gw-fuzz", now);
      if (!context.ok()) break;
      auto registration = RegistrationOf(*context, r);
      if (registration.ok()) {
        Require(registration->source_id().org() == "clinic-a" &&
                registration->source_id().local_id() == r.local_id());
      }
      break;
    }
  }
  return 0;
}

// libFuzzer target gateway_fuzz: the first byte chooses the input (mod 7), the rest is
//   0  a member directory file's text (ParseMemberDirectory, core/member_directory.h);
//   1  a serialized FindOutsideRecordsRequest: its context through MemberQueryContext (a member
//      certificate of clinic-a) and the request through ValidateFindOutsideRecords;
//   2  a serialized RetrieveDocumentRequest: the same context, ValidateRetrieveDocument;
//   3  a serialized PublishDocumentsRequest through MemberWriteContext and PublicationOf;
//   4  a serialized FeedPatientRequest through MemberWriteContext and RegistrationOf;
//   5  a serialized CreateConsentDirectiveRequest through MemberWriteContext and
//      DirectiveCreationOf;
//   6  a serialized BreakGlassRequest through BreakGlassContext and OpenBreakGlass (the hub and
//      consent faked: core/fake_hub_for_tests.h).
// No crash, no hang, and: a directory parsed is parsed again identically, and every member in it
// has an org, an endpoint, a state and max_results 1..1000; an accepted context names the
// certificate's org as the actor; an accepted publication names only the caller's org in every
// entry's patient and location; an accepted feed registers the caller's own record; an accepted
// directive is recorded against the caller's own patient; a grant is asked for the caller's own
// patient, for an emergency, by a clinician.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "services/gateway/core/fake_hub_for_tests.h"
#include "services/gateway/core/member_access.h"
#include "services/gateway/core/member_consent.h"
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
  switch (data[0] % 7) {
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
    case 5: {
      v1::CreateConsentDirectiveRequest r;
      if (!Parse(rest, &r)) break;
      auto context = MemberWriteContext(kClinicA, r.context(), "gw-fuzz", now);
      if (!context.ok()) break;
      auto creation = DirectiveCreationOf(*context, r);
      if (creation.ok()) Require(creation->directive().patient().org() == "clinic-a");
      break;
    }
    case 6: {
      v1::BreakGlassRequest r;
      if (!Parse(rest, &r)) break;
      auto context = BreakGlassContext(kClinicA, r.context(), "gw-fuzz", now);
      if (!context.ok()) break;
      testing::FakeHub hub;
      testing::FakeConsent consent;
      auto grant = OpenBreakGlass(*context, r, hub, consent, now + absl::Seconds(1));
      if (!grant.ok()) break;
      const auto& sent = consent.opened.at(0);
      Require(sent.patients_size() == 1 && sent.patients(0).org() == "clinic-a");
      Require(sent.context().purpose_of_use() == hie::common::v1::PURPOSE_OF_USE_EMERGENCY);
      Require(sent.context().actor().role() == hie::common::v1::ROLE_CLINICIAN);
      break;
    }
  }
  return 0;
}

// Golden-text rendering of the audit and consent responses.

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

namespace audit = ::hie::audit::v1;
namespace consent = ::hie::consent::v1;

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

TEST(RenderAuditTest, EventsTableAndNextPage) {
  auto r = Parse<audit::SearchEventsResponse>(R"pb(
    events {
      sequence: 1042
      event_time { seconds: 1795000000 }
      type: EVENT_TYPE_DISCLOSURE
      action: "gateway.RetrieveDocument"
      outcome: OUTCOME_SUCCESS
      actor { org: "clinic-b" user_id: "drno" role: ROLE_CLINICIAN }
      purpose_of_use: PURPOSE_OF_USE_EMERGENCY
      patients { org: "clinic-a" local_id: "MRN-1" }
      custodian_org: "clinic-a"
      break_glass_id: "bg-7"
      request_id: "r-1"
    }
    events {
      sequence: 9
      event_time { seconds: 1794990000 }
      type: EVENT_TYPE_QUERY
      action: "gateway.FindOutsideRecords"
      outcome: OUTCOME_DENIED
      status_code: "PERMISSION_DENIED"
      actor { org: "clinic-c" }
      request_id: "r-2"
    }
    next_page_token: "tok"
  )pb");
  // Columns wider than 100 characters: compared line by line.
  EXPECT_THAT(
      std::vector<std::string>(absl::StrSplit(RenderAuditEvents(r), '\n')),
      ElementsAre(
          MatchesRegex(" +SEQ  TIME +TYPE +ACTION +OUTCOME +ACTOR +PURPOSE +PATIENTS +CUSTODIAN "
                       " BREAK-GLASS  REQUEST"),
          MatchesRegex("1042  2026-11-18T11:06:40Z  disclosure  gateway.RetrieveDocument +success "
                       "+drno@clinic-b \\(clinician\\)  emergency  clinic-a/MRN-1  clinic-a   bg-7 "
                       "+r-1"),
          MatchesRegex(" +9  2026-11-18T08:20:00Z  query +gateway.FindOutsideRecords  denied "
                       "\\(PERMISSION_DENIED\\)  clinic-c +- +- +- +- +r-2"),
          "2 events", "next page: --page-token=tok (or --all)", ""));
  // The columns line up.
  std::vector<std::string> lines = absl::StrSplit(RenderAuditEvents(r), '\n');
  EXPECT_EQ(lines[0].find("ACTOR"), lines[1].find("drno@"));
  EXPECT_EQ(lines[0].find("REQUEST"), lines[2].find("r-2"));
  EXPECT_EQ(RenderAuditEvents({}), "no events\n");
}

TEST(RenderAuditTest, VerifyValidAndBroken) {
  auto valid = Parse<audit::VerifyResult>(R"pb(
    status: STATUS_VALID
    from_sequence: 1
    to_sequence: 5000
    events_checked: 5000
    checkpoints_checked: 3
    verify_time { seconds: 1795000000 }
  )pb");
  EXPECT_EQ(RenderVerifyResult(valid),
            "VALID\n"
            "range                1 .. 5000\n"
            "events checked       5000\n"
            "checkpoints checked  3\n"
            "verified at          2026-11-18T11:06:40Z\n");
  auto broken = Parse<audit::VerifyResult>(R"pb(
    status: STATUS_HASH_MISMATCH
    from_sequence: 1
    to_sequence: 5000
    events_checked: 1234
    first_bad_sequence: 1234
    detail: "stored hash differs from the recomputed one"
  )pb");
  EXPECT_EQ(RenderVerifyResult(broken),
            "NOT VALID: hash-mismatch\n"
            "first bad sequence   1234\n"
            "detail               stored hash differs from the recomputed one\n"
            "range                1 .. 5000\n"
            "events checked       1234\n"
            "checkpoints checked  0\n");
}

TEST(RenderAuditTest, DisclosuresCheckpointsAndKeys) {
  auto disclosures = Parse<audit::GetAccountingOfDisclosuresResponse>(R"pb(
    disclosures {
      disclosure_time { seconds: 1795000000 }
      recipient { org: "clinic-b" user_id: "drno" }
      purpose_of_use: PURPOSE_OF_USE_TREATMENT
      custodian_org: "clinic-a"
      objects { kind: "document" id: "doc-1" }
      objects { kind: "document" id: "doc-2" }
      event_id: "ev-1"
    }
  )pb");
  EXPECT_EQ(RenderDisclosures(disclosures),
            "TIME                  RECIPIENT      PURPOSE    CUSTODIAN  WHAT                 "
            "           BREAK-GLASS  EVENT\n"
            "2026-11-18T11:06:40Z  drno@clinic-b  treatment  clinic-a   document:doc-1, docum"
            "ent:doc-2  no           ev-1\n"
            "1 disclosures\n");
  audit::ListCheckpointsResponse checkpoints;
  audit::Checkpoint* c = checkpoints.add_checkpoints();
  c->set_sequence(77);
  c->set_head_hash(std::string("\x00\xab\xff", 3));
  c->set_key_id("k-2026");
  c->set_signature_algorithm("ED25519");
  c->mutable_create_time()->set_seconds(1795000000);
  EXPECT_EQ(RenderCheckpoints(checkpoints),
            "SEQ  CREATED               KEY     ALGORITHM  HEAD HASH\n"
            " 77  2026-11-18T11:06:40Z  k-2026  ED25519    00abff\n"
            "1 checkpoints\n");
  EXPECT_THAT(RenderCheckpoint(*c), HasSubstr("head hash  00abff\n"));
  auto keys = Parse<audit::ListSigningKeysResponse>(R"pb(
    keys {
      key_id: "k-2025"
      signature_algorithm: "ED25519"
      valid_from { seconds: 1760000000 }
      valid_until { seconds: 1795000000 }
    }
    keys {
      key_id: "k-2026"
      signature_algorithm: "ED25519"
      valid_from { seconds: 1795000000 }
    }
  )pb");
  EXPECT_EQ(RenderSigningKeys(keys),
            "KEY     ALGORITHM  VALID FROM            VALID UNTIL\n"
            "k-2025  ED25519    2025-10-09T08:53:20Z  2026-11-18T11:06:40Z\n"
            "k-2026  ED25519    2026-11-18T11:06:40Z  current\n"
            "public keys (PEM): --json\n");
}

TEST(RenderConsentTest, DirectiveAndList) {
  auto d = Parse<consent::ConsentDirective>(R"pb(
    directive_id: "cd-1"
    patient { org: "clinic-a" local_id: "MRN-1" }
    effect: EFFECT_DENY
    actor_orgs: "clinic-b"
    sensitivity_labels { system: "urn:hl7-actcode" code: "SUD" }
    effective_period { start { seconds: 1795000000 } }
    state: DIRECTIVE_STATE_ACTIVE
    etag: "e1"
  )pb");
  EXPECT_EQ(RenderDirective(d),
            "directive   cd-1\n"
            "state       active\n"
            "patient     clinic-a/MRN-1\n"
            "effect      deny\n"
            "recipients  clinic-b\n"
            "custodians  any\n"
            "purposes    any\n"
            "categories  all data\n"
            "labels      urn:hl7-actcode|SUD\n"
            "in force    2026-11-18T11:06:40Z .. open\n"
            "etag        e1\n");
  consent::ListDirectivesResponse list;
  *list.add_directives() = d;
  EXPECT_EQ(RenderDirectives(list),
            "DIRECTIVE  STATE   EFFECT  PATIENT         RECIPIENTS  CUSTODIANS  PURPOSES  SCO"
            "PE                FROM                  UNTIL  ETAG\n"
            "cd-1       active  deny    clinic-a/MRN-1  clinic-b    any         any       urn"
            ":hl7-actcode|SUD  2026-11-18T11:06:40Z  -      e1\n"
            "1 directives\n");
  EXPECT_EQ(RenderDirectives({}), "no directives\n");
}

TEST(RenderConsentTest, Grants) {
  auto g = Parse<consent::BreakGlassGrant>(R"pb(
    grant_id: "bg-7"
    patients { org: "clinic-a" local_id: "MRN-1" }
    actor { org: "clinic-b" user_id: "drno" role: ROLE_CLINICIAN }
    reason: "unconscious in ED"
    reason_code: BREAK_GLASS_REASON_PATIENT_UNABLE_TO_CONSENT
    start_time { seconds: 1795000000 }
    expire_time { seconds: 1795014400 }
    review_state: BREAK_GLASS_REVIEW_STATE_PENDING
  )pb");
  consent::ListBreakGlassGrantsResponse list;
  *list.add_grants() = g;
  EXPECT_EQ(RenderGrants(list),
            "GRANT  REVIEW   ACTOR                      PATIENTS        REASON CODE          "
            "      STARTED               ENDS                  REASON\n"
            "bg-7   pending  drno@clinic-b (clinician)  clinic-a/MRN-1  patient-unable-to-con"
            "sent  2026-11-18T11:06:40Z  2026-11-18T15:06:40Z  unconscious in ED\n"
            "1 grants\n");
  g.set_review_state(consent::BREAK_GLASS_REVIEW_STATE_INAPPROPRIATE);
  g.set_review_notes("no emergency");
  std::string text = RenderGrant(g);
  EXPECT_THAT(text, HasSubstr("review       inappropriate\n"));
  EXPECT_THAT(text, HasSubstr("notes        no emergency\n"));
  EXPECT_THAT(text, Not(HasSubstr("reviewed by")));
}

}  // namespace
}  // namespace hie::hiectl

// The rule table: every worked example of services/consent/README.md ("Worked examples"), by the
// same name, run through the pure decision function. Change one, change the other.

#include "services/consent/core/decision.h"

#include <gtest/gtest.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/consent/core/time_proto.h"

namespace hie::consent {
namespace {

using hie::common::v1::Coding;
using hie::common::v1::PurposeOfUse;
constexpr auto kTreat = hie::common::v1::PURPOSE_OF_USE_TREATMENT;
constexpr auto kEmergency = hie::common::v1::PURPOSE_OF_USE_EMERGENCY;
constexpr auto kPublicHealth = hie::common::v1::PURPOSE_OF_USE_PUBLIC_HEALTH;
constexpr auto kResearch = hie::common::v1::PURPOSE_OF_USE_RESEARCH;
constexpr char kLabels[] = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
constexpr char kCategories[] = "urn:hie:data-category";

// Day n of 2026 at noon UTC: the table's clock.
absl::Time Day(int n) { return absl::FromUnixSeconds(1767268800 + int64_t{n} * 86400); }

Coding Label(const std::string& code) {
  Coding c;
  c.set_system(kLabels);
  c.set_code(code);
  return c;
}
Coding Category(const std::string& code) {
  Coding c;
  c.set_system(kCategories);
  c.set_code(code);
  return c;
}

struct D {
  std::string id;
  v1::Effect effect;
  std::vector<std::string> actor_orgs = {};
  std::vector<std::string> custodians = {};
  std::vector<PurposeOfUse> purposes = {};
  std::vector<std::string> categories = {};
  std::vector<std::string> labels = {};
  int from_day = 0;
  std::optional<int> until_day = std::nullopt;  // unset = open
  v1::DirectiveState state = v1::DIRECTIVE_STATE_ACTIVE;
};

v1::ConsentDirective Make(const D& d, int order) {
  v1::ConsentDirective out;
  out.set_directive_id(d.id);
  out.mutable_patient()->set_org("clinic-a");
  out.mutable_patient()->set_local_id("MRN1");
  out.set_effect(d.effect);
  for (const auto& o : d.actor_orgs) out.add_actor_orgs(o);
  for (const auto& o : d.custodians) out.add_custodian_orgs(o);
  for (auto p : d.purposes) out.add_purposes(p);
  for (const auto& c : d.categories) *out.add_data_categories() = Category(c);
  for (const auto& l : d.labels) *out.add_sensitivity_labels() = Label(l);
  *out.mutable_effective_period()->mutable_start() = ToProto(Day(d.from_day));
  if (d.until_day) *out.mutable_effective_period()->mutable_end() = ToProto(Day(*d.until_day));
  out.set_state(d.state);
  *out.mutable_create_time() = ToProto(Day(-10) + absl::Minutes(order));  // later in list = newer
  return out;
}

enum class Grant { kNone, kCovered, kNotCovered, kIdentityDown, kExpired, kOtherUser };

struct Case {
  std::string name;
  v1::DefaultMode mode;
  std::vector<D> directives;
  PurposeOfUse purpose = kTreat;
  std::string actor_org = "clinic-b";
  std::string custodian = "clinic-c";
  std::vector<std::string> categories = {};
  std::vector<std::string> labels = {};
  Grant grant = Grant::kNone;
  bool fresh = true;
  bool break_glass_reveals = false;
  // Expected.
  v1::Effect effect;
  v1::DecisionBasis basis;
  std::string deciding = "";
  std::string obligations = "";  // "TYPE[codes]@directive; ..."
  v1::BreakGlassCheck check = v1::BREAK_GLASS_CHECK_UNSPECIFIED;
};

std::string Render(const v1::Decision& d) {
  std::vector<std::string> parts;
  for (const v1::Obligation& o : d.obligations()) {
    std::vector<std::string> codes;
    for (const Coding& c : o.codes()) codes.push_back(c.code());
    std::string type = v1::Obligation::Type_Name(o.type()).substr(5);  // drop "TYPE_"
    parts.push_back(absl::StrCat(type, "[", absl::StrJoin(codes, ","), "]",
                                 o.directive_id().empty() ? "" : "@", o.directive_id()));
  }
  return absl::StrJoin(parts, "; ");
}

v1::ConsentPolicy Policy(v1::DefaultMode mode, bool reveals) {
  v1::ConsentPolicy p;
  p.set_default_mode(mode);
  for (const char* l : {"ETH", "HIV", "PSY"}) *p.add_protected_labels() = Label(l);
  p.add_purposes_exempt_from_consent(kPublicHealth);
  p.set_break_glass_reveals_protected(reveals);
  p.set_policy_version("p1");
  return p;
}

constexpr auto kOptIn = v1::DEFAULT_MODE_OPT_IN;
constexpr auto kOptOut = v1::DEFAULT_MODE_OPT_OUT;
constexpr auto kPermit = v1::EFFECT_PERMIT;
constexpr auto kDeny = v1::EFFECT_DENY;
constexpr auto kByDirective = v1::DECISION_BASIS_DIRECTIVE;
constexpr auto kByDefault = v1::DECISION_BASIS_DEFAULT_POLICY;
constexpr auto kByBreakGlass = v1::DECISION_BASIS_BREAK_GLASS;
constexpr auto kByExempt = v1::DECISION_BASIS_EXEMPT_PURPOSE;
constexpr auto kUnavailable = v1::DECISION_BASIS_CONSENT_UNAVAILABLE;
const std::string kRedactEth = "REDACT_SENSITIVITY_LABELS[ETH,HIV,PSY]";

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      // --- default policy ---
      {.name = "E1_opt_out_no_directive_permits_protected_redacted",
       .mode = kOptOut,
       .directives = {},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = kRedactEth},
      {.name = "E2_opt_in_no_directive_denies",
       .mode = kOptIn,
       .directives = {},
       .effect = kDeny,
       .basis = kByDefault},
      {.name = "E3_opt_in_permit_any_org",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit}},
       .effect = kPermit,
       .basis = kByDirective,
       .deciding = "cd-1",
       .obligations = kRedactEth},
      {.name = "E4_opt_in_permit_for_other_actor_org_does_not_match",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit, .actor_orgs = {"clinic-x"}}},
       .effect = kDeny,
       .basis = kByDefault},
      {.name = "E5_opt_in_permit_only_treatment_not_research",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit, .purposes = {kTreat}}},
       .purpose = kResearch,
       .effect = kDeny,
       .basis = kByDefault},
      // --- deny overrides permit ---
      {.name = "E6_deny_overrides_permit",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit}, {.id = "cd-2", .effect = kDeny}},
       .effect = kDeny,
       .basis = kByDirective,
       .deciding = "cd-2"},
      {.name = "E7_newest_deny_reported",
       .mode = kOptOut,
       .directives = {{.id = "cd-1", .effect = kDeny}, {.id = "cd-2", .effect = kDeny}},
       .effect = kDeny,
       .basis = kByDirective,
       .deciding = "cd-2"},
      {.name = "E8_deny_of_one_custodian_leaves_others",
       .mode = kOptOut,
       .directives = {{.id = "cd-1", .effect = kDeny, .custodians = {"clinic-x"}}},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = kRedactEth},
      {.name = "E9_deny_not_yet_in_force",
       .mode = kOptOut,
       .directives = {{.id = "cd-1", .effect = kDeny, .from_day = 5}},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = kRedactEth},
      {.name = "E10_deny_period_ended_end_exclusive",
       .mode = kOptOut,
       .directives = {{.id = "cd-1", .effect = kDeny, .from_day = -5, .until_day = 0}},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = kRedactEth},
      {.name = "E11_revoked_deny_ignored",
       .mode = kOptOut,
       .directives = {{.id = "cd-1", .effect = kDeny, .state = v1::DIRECTIVE_STATE_REVOKED}},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = kRedactEth},
      // --- scoped denies become obligations ---
      {.name = "E12_category_deny_becomes_redaction",
       .mode = kOptOut,
       .directives = {{.id = "cd-1", .effect = kDeny, .categories = {"mental-health-notes"}}},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = "REDACT_DATA_CATEGORIES[mental-health-notes]@cd-1; " + kRedactEth},
      {.name = "E13_label_deny_redacts_and_counts_for_protected",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit, .labels = {}},
                      {.id = "cd-2", .effect = kDeny, .labels = {"HIV", "SEX"}}},
       .effect = kPermit,
       .basis = kByDirective,
       .deciding = "cd-1",
       .obligations = "REDACT_SENSITIVITY_LABELS[HIV,SEX]@cd-2; "
                      "REDACT_SENSITIVITY_LABELS[ETH,PSY]"},
      {.name = "E14_category_deny_irrelevant_to_named_document",
       .mode = kOptOut,
       .directives = {{.id = "cd-1", .effect = kDeny, .categories = {"mental-health-notes"}}},
       .categories = {"lab-results"},
       .labels = {"N"},
       .effect = kPermit,
       .basis = kByDefault},
      // --- protected labels ---
      {.name = "E15_permit_naming_sud_releases_it_with_no_redisclosure",
       .mode = kOptOut,
       .directives = {{.id = "cd-1", .effect = kPermit, .labels = {"ETH"}}},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = "REDACT_SENSITIVITY_LABELS[HIV,PSY]; NO_REDISCLOSURE[ETH]"},
      {.name = "E16_sud_document_with_sud_permit_opt_in",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit, .labels = {"ETH"}}},
       .labels = {"ETH"},
       .effect = kPermit,
       .basis = kByDirective,
       .deciding = "cd-1",
       .obligations = "NO_REDISCLOSURE[ETH]"},
      {.name = "E17_sud_document_without_named_permit_redacted",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit}},
       .labels = {"ETH"},
       .effect = kPermit,
       .basis = kByDirective,
       .deciding = "cd-1",
       .obligations = "REDACT_SENSITIVITY_LABELS[ETH]"},
      {.name = "E18_scoped_permit_does_not_open_everything",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit, .categories = {"lab-results"}}},
       .effect = kDeny,
       .basis = kByDefault},
      {.name = "E19_scoped_permit_covers_its_own_data",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kPermit, .categories = {"lab-results"}}},
       .categories = {"lab-results"},
       .effect = kPermit,
       .basis = kByDirective,
       .deciding = "cd-1",
       .obligations = kRedactEth},
      {.name = "E29_label_permit_limited_to_a_category_releases_only_that_category",
       .mode = kOptOut,
       .directives =
           {{.id = "cd-1", .effect = kPermit, .categories = {"lab-results"}, .labels = {"HIV"}}},
       .categories = {"clinical-notes"},
       .labels = {"HIV"},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = "REDACT_SENSITIVITY_LABELS[HIV]"},
      {.name = "E30_label_permit_limited_to_a_category_and_a_query_for_all_data",
       .mode = kOptOut,
       .directives =
           {{.id = "cd-1", .effect = kPermit, .categories = {"lab-results"}, .labels = {"HIV"}}},
       .effect = kPermit,
       .basis = kByDefault,
       .obligations = "REDACT_SENSITIVITY_LABELS[ETH,HIV,PSY]"},
      // --- exempt purposes ---
      {.name = "E20_exempt_purpose_beats_deny",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kDeny}},
       .purpose = kPublicHealth,
       .effect = kPermit,
       .basis = kByExempt,
       .obligations = kRedactEth},
      // --- break-glass ---
      {.name = "E21_break_glass_beats_deny",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kDeny}},
       .purpose = kEmergency,
       .grant = Grant::kCovered,
       .effect = kPermit,
       .basis = kByBreakGlass,
       .obligations = "AUDIT_AS_BREAK_GLASS[]; " + kRedactEth,
       .check = v1::BREAK_GLASS_CHECK_APPLIED},
      {.name = "E22_break_glass_reveals_protected_when_policy_says",
       .mode = kOptIn,
       .directives = {},
       .purpose = kEmergency,
       .grant = Grant::kCovered,
       .break_glass_reveals = true,
       .effect = kPermit,
       .basis = kByBreakGlass,
       .obligations = "AUDIT_AS_BREAK_GLASS[]; NO_REDISCLOSURE[ETH,HIV,PSY]",
       .check = v1::BREAK_GLASS_CHECK_APPLIED},
      {.name = "E23_break_glass_after_unmerge_not_covered",
       .mode = kOptIn,
       .directives = {},
       .purpose = kEmergency,
       .grant = Grant::kNotCovered,
       .effect = kDeny,
       .basis = kByBreakGlass,
       .check = v1::BREAK_GLASS_CHECK_NOT_COVERED},
      {.name = "E24_break_glass_identity_down_never_permits_on_doubt",
       .mode = kOptIn,
       .directives = {{.id = "cd-1", .effect = kDeny}},
       .purpose = kEmergency,
       .grant = Grant::kIdentityDown,
       .effect = kDeny,
       .basis = kByBreakGlass,
       .check = v1::BREAK_GLASS_CHECK_IDENTITY_UNAVAILABLE},
      {.name = "E25_break_glass_expired",
       .mode = kOptIn,
       .directives = {},
       .purpose = kEmergency,
       .grant = Grant::kExpired,
       .effect = kDeny,
       .basis = kByBreakGlass,
       .check = v1::BREAK_GLASS_CHECK_NOT_IN_FORCE},
      {.name = "E26_break_glass_of_another_user",
       .mode = kOptIn,
       .directives = {},
       .purpose = kEmergency,
       .grant = Grant::kOtherUser,
       .effect = kDeny,
       .basis = kByBreakGlass,
       .check = v1::BREAK_GLASS_CHECK_NOT_IN_FORCE},
      {.name = "E27_emergency_without_grant_is_refused_even_under_opt_out",
       .mode = kOptOut,
       .directives = {},
       .purpose = kEmergency,
       .effect = kDeny,
       .basis = kByBreakGlass,
       .check = v1::BREAK_GLASS_CHECK_NO_GRANT},
      // --- freshness ---
      {.name = "E28_stale_view_denies",
       .mode = kOptOut,
       .directives = {},
       .fresh = false,
       .effect = kDeny,
       .basis = kUnavailable},
  };
  return *cases;
}

class RuleTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(RuleTableTest, DecidesAsTheReadmeSays) {
  const Case& c = GetParam();
  v1::ConsentPolicy policy = Policy(c.mode, c.break_glass_reveals);
  std::vector<v1::ConsentDirective> stored;
  for (size_t i = 0; i < c.directives.size(); ++i) {
    stored.push_back(Make(c.directives[i], static_cast<int>(i)));
  }
  DecisionRequest request;
  request.actor.set_org(c.actor_org);
  request.actor.set_user_id("dr-jones");
  request.actor.set_role(hie::common::v1::ROLE_CLINICIAN);
  request.purpose = c.purpose;
  request.custodian_org = c.custodian;
  for (const auto& x : c.categories) request.data_categories.push_back(Category(x));
  for (const auto& x : c.labels) request.sensitivity_labels.push_back(Label(x));
  request.at = Day(0);

  BreakGlassFact fact;
  fact.grant.set_grant_id("bg-1");
  *fact.grant.mutable_actor() = request.actor;
  *fact.grant.mutable_start_time() = ToProto(Day(0) - absl::Minutes(10));
  *fact.grant.mutable_expire_time() = ToProto(Day(0) + absl::Minutes(50));
  fact.coverage = BreakGlassFact::Coverage::kCovered;
  if (c.grant == Grant::kNotCovered) fact.coverage = BreakGlassFact::Coverage::kNotCovered;
  if (c.grant == Grant::kIdentityDown) fact.coverage = BreakGlassFact::Coverage::kUnavailable;
  if (c.grant == Grant::kExpired) *fact.grant.mutable_expire_time() = ToProto(Day(0));
  if (c.grant == Grant::kOtherUser) fact.grant.mutable_actor()->set_user_id("dr-other");

  DecisionFacts facts;
  facts.policy = &policy;
  for (const auto& d : stored) facts.directives.push_back(&d);
  facts.break_glass = c.grant == Grant::kNone ? nullptr : &fact;
  facts.view_fresh = c.fresh;
  facts.view_version = 7;

  v1::Decision decision = Decide(request, facts, "dc-1");
  EXPECT_EQ(v1::Effect_Name(decision.effect()), v1::Effect_Name(c.effect));
  EXPECT_EQ(v1::DecisionBasis_Name(decision.basis()), v1::DecisionBasis_Name(c.basis));
  EXPECT_EQ(decision.directive_id(), c.deciding);
  EXPECT_EQ(Render(decision), c.obligations);
  EXPECT_EQ(v1::BreakGlassCheck_Name(decision.break_glass_check()),
            v1::BreakGlassCheck_Name(c.check));
  EXPECT_EQ(decision.decision_id(), "dc-1");
  EXPECT_EQ(decision.policy_version(), "p1");
  EXPECT_EQ(decision.view_version(), 7);
  EXPECT_LE(FromProto(decision.cache_ttl()), kMaxCacheTtl);
  if (c.effect == kDeny) EXPECT_EQ(decision.obligations_size(), 0) << "obligations only on PERMIT";
  if (c.basis == kByBreakGlass && c.effect == kPermit) {  // the grant used; none on a refusal
    EXPECT_EQ(decision.break_glass_id(), "bg-1");
  } else {
    EXPECT_EQ(decision.break_glass_id(), "");
  }
  if (!c.fresh) EXPECT_EQ(FromProto(decision.cache_ttl()), absl::ZeroDuration());
}

INSTANTIATE_TEST_SUITE_P(Readme, RuleTableTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(DecisionTest, BreakGlassCacheTtlNeverOutlivesTheGrant) {
  v1::ConsentPolicy policy = Policy(kOptIn, false);
  DecisionRequest request;
  request.actor.set_org("clinic-b");
  request.actor.set_user_id("dr-jones");
  request.purpose = kEmergency;
  request.at = Day(0);
  BreakGlassFact fact;
  *fact.grant.mutable_actor() = request.actor;
  *fact.grant.mutable_start_time() = ToProto(Day(0) - absl::Minutes(59));
  *fact.grant.mutable_expire_time() = ToProto(Day(0) + absl::Milliseconds(300));
  fact.coverage = BreakGlassFact::Coverage::kCovered;
  DecisionFacts facts{.policy = &policy, .directives = {}, .break_glass = &fact};
  v1::Decision d = Decide(request, facts, "dc-2");
  EXPECT_EQ(d.effect(), kPermit);
  EXPECT_EQ(FromProto(d.cache_ttl()), absl::Milliseconds(300));
}

}  // namespace
}  // namespace hie::consent

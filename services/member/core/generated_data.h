#pragma once

// A member's data generated instead of loaded (--generate-patients): its share of a synthetic
// population that several members generate alike, so that the same persons turn up at several
// members, with the data-entry errors real members make (typos, nicknames, moves, swapped
// dates), and twins, Jr/Sr pairs, spouses and namesakes that must not be merged.
//
// The population is hie::mpi::GeneratePopulation (mpi/include/hie/mpi/generator.h) of
// `persons` persons over population_orgs.size() clinics with `seed`; its i-th clinic is
// population_orgs[i], and this member holds the records placed at `org`. Members started with
// the same persons, seed and population_orgs therefore share persons deterministically. The
// records' demographics are mapped as the identity service's benchmarks send them
// (services/identity/bench/generated_dataset.h, ToDemographics).
//
// Each patient gets 1..max_documents_per_patient documents (consult notes, lab reports,
// discharge summaries, imaging reports, CCD summaries; about one in ten carries a sensitivity
// label, PSY or HIV, for consent's obligations), created 2015..2024, with deterministic content:
// a few KiB of text, and for at most kMaxLargeDocuments patients (every 50th by local id) an
// imaging report of about 1.5 MiB, so that retrieval streams several chunks. Unique ids are
// urn:uuid values and retrieve keys "doc-" + 24 hex digits, both derived from (seed, org, local
// id, document number): a restart yields the same documents. Pure; deterministic.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/member/core/member_data.h"

namespace hie::member {

inline constexpr int kMaxLargeDocuments = 20;

struct GenerateOptions {
  int64_t persons = 300;  // the population's size (all members together)
  uint64_t seed = 2026;
  std::vector<std::string> population_orgs = {"clinic-a", "clinic-b", "clinic-c"};
  std::string org;  // one of population_orgs
  std::string repository_id;
  int max_documents_per_patient = 3;  // 1..20
};

// INVALID_ARGUMENT naming the option: persons outside 1..2,000,000, no or repeated population
// orgs (at most 26), org not among them, max_documents_per_patient outside 1..20.
[[nodiscard]] absl::StatusOr<MemberData> GenerateMemberData(const GenerateOptions& options);

}  // namespace hie::member

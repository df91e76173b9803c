#pragma once

// What consent needs to know of a document: its data categories and sensitivity labels, in the
// vocabularies consent's directives use (services/consent/README.md). The mapping, written down
// in services/registry/README.md and tested row by row in categories_test.cc:
//
//  - Sensitivity labels: every confidentiality code in HL7 v3 ActCode (the URI, or its OID
//    urn:oid:2.16.840.1.113883.5.4, answered as the URI), e.g. ETH (substance use, 42 CFR
//    Part 2), HIV, PSY (psychiatry), SEX, STD, SDV. Codes of other systems (the v3
//    Confidentiality N / R / V levels) are not labels.
//  - Data categories: the class code itself (a directive may name a document class), plus the
//    HIE category (system urn:hie:data-category) of the class codes in kClassCategories (LOINC
//    document classes); a class code already in urn:hie:data-category is that category.
//
// Pure; each list is sorted by (system, code) and holds no duplicates.

#include <vector>

#include "hie/registry/v1/registry.pb.h"

namespace hie::registry {

inline constexpr char kActCodeSystem[] = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
inline constexpr char kActCodeOid[] = "urn:oid:2.16.840.1.113883.5.4";
inline constexpr char kLoincSystem[] = "http://loinc.org";
inline constexpr char kLoincOid[] = "urn:oid:2.16.840.1.113883.6.1";
inline constexpr char kHieCategorySystem[] = "urn:hie:data-category";

struct ClassCategory {
  const char* loinc;     // document class (LOINC)
  const char* category;  // HIE data category code
};
// The LOINC document classes with an HIE category.
inline constexpr ClassCategory kClassCategories[] = {
    {"11488-4", "clinical-notes"},  // Consult note
    {"11506-3", "clinical-notes"},  // Progress note
    {"18842-5", "clinical-notes"},  // Discharge summary
    {"28570-0", "clinical-notes"},  // Procedure note
    {"34117-2", "clinical-notes"},  // History and physical note
    {"57133-1", "clinical-notes"},  // Referral note
    {"11502-2", "lab-results"},     // Laboratory report
    {"18748-4", "imaging"},         // Diagnostic imaging study
    {"10160-0", "medications"},     // History of medication use
    {"11369-6", "immunizations"},   // History of immunization
    {"34133-9", "summary"},         // Summary of episode note (CCD)
    {"60591-5", "summary"},         // Patient summary
};

struct ConsentLabels {
  std::vector<common::v1::Coding> data_categories;
  std::vector<common::v1::Coding> sensitivity_labels;
};

ConsentLabels ConsentLabelsOf(const v1::DocumentEntry& entry);

}  // namespace hie::registry

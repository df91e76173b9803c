#pragma once

// Compiled-in reference tables for the synthetic population generator (generator.h). Internal to
// hie_mpi; tests may read them. Every name list is in rough frequency rank order (most common
// first); the generator turns the rank into an integer weight, so no file is read at run time.
// The lists are common US names and real US cities/ZIP prefixes/area codes; no real person's data.

#include <span>

namespace hie::mpi::gen_tables {

struct NicknamePair {
  const char* formal;    // Title case, as in the given-name tables
  const char* nickname;  // Title case
};

struct AccentPair {
  const char* plain;     // ASCII Title case, as in the name tables
  const char* accented;  // UTF-8
};

struct City {
  const char* name;
  const char* state;      // USPS code
  const char* zip3;       // a real 3-digit ZIP prefix of the city
  const char* area_code;  // a real area code of the city
};

// Surnames, Title case. General (non-Hispanic) and Hispanic lists, in rank order.
std::span<const char* const> FamilyNames();
std::span<const char* const> HispanicFamilyNames();
// Syllables combined into a long tail of rare surnames ("Ash" + "ford").
std::span<const char* const> RareSurnamePrefixes();
std::span<const char* const> RareSurnameSuffixes();

// Given names by sex, in rank order; the Hispanic lists are drawn for part of Hispanic persons.
std::span<const char* const> MaleGivenNames();
std::span<const char* const> FemaleGivenNames();
std::span<const char* const> HispanicMaleGivenNames();
std::span<const char* const> HispanicFemaleGivenNames();

// Vietnamese names: UTF-8 with diacritics (precomposed, NFC), Title case, in rough rank order.
// Given names may have two syllables ("Ánh Dương", "Thị Mai"); middle names are the usual
// generation / gender syllables (Văn, Thị, ...).
std::span<const char* const> VietnameseFamilyNames();
std::span<const char* const> VietnameseMaleGivenNames();
std::span<const char* const> VietnameseFemaleGivenNames();
std::span<const char* const> VietnameseMaleMiddleNames();
std::span<const char* const> VietnameseFemaleMiddleNames();
// Lower-case particles that join the two parts of a Hispanic family name ("de la").
std::span<const char* const> SurnameParticles();

std::span<const NicknamePair> Nicknames();
// Accented spellings, applied token by token ("Garcia Lopez" -> "García López"); given-name
// spellings apply to given and middle names only ("Martin" the surname keeps its spelling).
std::span<const AccentPair> GivenNameAccents();
std::span<const AccentPair> FamilyNameAccents();

std::span<const char* const> StreetNames();
std::span<const char* const> StreetTypes();  // abbreviated: "St", "Ave", ...
std::span<const City> Cities();
std::span<const char* const> EmailDomains();  // reserved/fictional domains only

}  // namespace hie::mpi::gen_tables

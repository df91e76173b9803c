#include "generator_tables.h"

namespace hie::mpi::gen_tables {
namespace {

constexpr const char* kFamilyNames[] = {
    "Smith",       "Johnson",    "Williams",   "Brown",    "Jones",      "Miller",     "Davis",
    "Wilson",      "Anderson",   "Taylor",     "Thomas",   "Moore",      "Jackson",    "Martin",
    "Lee",         "Thompson",   "White",      "Harris",   "Clark",      "Lewis",      "Robinson",
    "Walker",      "Young",      "Allen",      "King",     "Wright",     "Scott",      "Hill",
    "Green",       "Adams",      "Nelson",     "Baker",    "Hall",       "Campbell",   "Mitchell",
    "Carter",      "Roberts",    "Phillips",   "Evans",    "Turner",     "Parker",     "Collins",
    "Edwards",     "Stewart",    "Morris",     "Murphy",   "Cook",       "Rogers",     "Morgan",
    "Cooper",      "Peterson",   "Reed",       "Bailey",   "Bell",       "Kelly",      "Howard",
    "Cox",         "Ward",       "Richardson", "Watson",   "Brooks",     "Wood",       "James",
    "Bennett",     "Gray",       "Hughes",     "Price",    "Myers",      "Long",       "Foster",
    "Sanders",     "Ross",       "Powell",     "Sullivan", "Russell",    "Perry",      "Butler",
    "Barnes",      "Fisher",     "Henderson",  "Coleman",  "Simmons",    "Patterson",  "Jordan",
    "Reynolds",    "Hamilton",   "Graham",     "Kim",      "Wallace",    "Woods",      "Cole",
    "West",        "Owens",      "Nguyen",     "Tran",     "Patel",      "Marshall",   "Ellis",
    "Harrison",    "Gibson",     "Mcdonald",   "Kennedy",  "Wells",      "Stevens",    "Murray",
    "Ford",        "Freeman",    "Webb",       "Tucker",   "Porter",     "Hunter",     "Hicks",
    "Crawford",    "Henry",      "Boyd",       "Mason",    "Warren",     "Dixon",      "Burns",
    "Gordon",      "Shaw",       "Holmes",     "Rice",     "Robertson",  "Hunt",       "Black",
    "Daniels",     "Palmer",     "Mills",      "Nichols",  "Grant",      "Knight",     "Ferguson",
    "Stone",       "Hawkins",    "Dunn",       "Perkins",  "Hudson",     "Spencer",    "Gardner",
    "Stephens",    "Payne",      "Pierce",     "Berry",    "Matthews",   "Arnold",     "Wagner",
    "Willis",      "Ray",        "Watkins",    "Olson",    "Carroll",    "Duncan",     "Snyder",
    "Hart",        "Cunningham", "Bradley",    "Lane",     "Andrews",    "Harper",     "Fox",
    "Riley",       "Armstrong",  "Carpenter",  "Weaver",   "Greene",     "Lawrence",   "Elliott",
    "Sims",        "Austin",     "Peters",     "Kelley",   "Franklin",   "Lawson",     "Fields",
    "Ryan",        "Schmidt",    "Carr",       "Wheeler",  "Chapman",    "Oliver",     "Montgomery",
    "Richards",    "Williamson", "Johnston",   "Banks",    "Meyer",      "Bishop",     "Mccoy",
    "Howell",      "Morrison",   "Hansen",     "Harvey",   "Little",     "Burton",     "Stanley",
    "George",      "Jacobs",     "Reid",       "Fuller",   "Lynch",      "Dean",       "Gilbert",
    "Garrett",     "Welch",      "Larson",     "Frazier",  "Burke",      "Hanson",     "Day",
    "Bowman",      "Fowler",     "Brewer",     "Hoffman",  "Carlson",    "Pearson",    "Holland",
    "Douglas",     "Fleming",    "Jensen",     "Byrd",     "Davidson",   "Hopkins",    "May",
    "Terry",       "Wade",       "Walters",    "Curtis",   "Neal",       "Caldwell",   "Lowe",
    "Jennings",    "Barnett",    "Graves",     "Horton",   "Shelton",    "Barrett",    "Obrien",
    "Castro",      "Sutton",     "Gregory",    "Mckinney", "Lucas",      "Miles",      "Craig",
    "Chambers",    "Holt",       "Lambert",    "Fletcher", "Watts",      "Bates",      "Hale",
    "Rhodes",      "Beck",       "Newman",     "Haynes",   "Mcdaniel",   "Bush",       "Vaughn",
    "Parks",       "Dawson",     "Norris",     "Hardy",    "Love",       "Steele",     "Curry",
    "Powers",      "Schultz",    "Barker",     "Page",     "Ball",       "Keller",     "Chandler",
    "Weber",       "Leonard",    "Walsh",      "Lyons",    "Ramsey",     "Wolfe",      "Schneider",
    "Mullins",     "Benson",     "Sharp",      "Bowen",    "Daniel",     "Barber",     "Cummings",
    "Hines",       "Baldwin",    "Griffith",   "Hubbard",  "Reeves",     "Warner",     "Stevenson",
    "Burgess",     "Santos",     "Tate",       "Cross",    "Garner",     "Mann",       "Mack",
    "Moss",        "Thornton",   "Dennis",     "Mcgee",    "Farmer",     "Glover",     "Manning",
    "Cohen",       "Harmon",     "Rodgers",    "Robbins",  "Newton",     "Todd",       "Blair",
    "Higgins",     "Ingram",     "Reese",      "Cannon",   "Strickland", "Townsend",   "Potter",
    "Goodwin",     "Walton",     "Rowe",       "Hampton",  "Patton",     "Swanson",    "Joseph",
    "Francis",     "Goodman",    "Yates",      "Becker",   "Erickson",   "Hodges",     "Conner",
    "Adkins",      "Webster",    "Norman",     "Malone",   "Hammond",    "Flowers",    "Cobb",
    "Moody",       "Quinn",      "Blake",      "Maxwell",  "Pope",       "Floyd",      "Osborne",
    "Paul",        "Mccarthy",   "Lindsey",    "Gibbs",    "Tyler",      "Gross",      "Fitzgerald",
    "Stokes",      "Doyle",      "Sherman",    "Saunders", "Wise",       "Colon",      "Gill",
    "Greer",       "Simon",      "Waters",     "Ballard",  "Schwartz",   "Mcbride",    "Houston",
    "Christensen", "Klein",      "Pratt",      "Briggs",   "Parsons",    "Mclaughlin", "Zimmerman",
    "French",      "Buchanan",   "Moran",      "Copeland", "Roy",        "Pittman",    "Brady",
    "Mccormick",   "Holloway",   "Brock",      "Poole",    "Frank",      "Logan",      "Owen",
    "Bass",        "Marsh",      "Drake",      "Wong",     "Jefferson",  "Park",       "Morton",
    "Abbott",      "Sparks",     "Patrick",    "Norton",   "Huff",       "Clayton",    "Massey",
    "Lloyd",       "Carson",     "Bowers",     "Roberson", "Barton",     "Lamb",       "Harrington",
    "Casey",       "Boone",      "Clarke",     "Mathis",   "Singleton",  "Wilkins",    "Cain",
    "Bryan",       "Underwood",  "Hogan",      "Mckenzie", "Collier",    "Phelps",     "Mcguire",
    "Allison",     "Bridges",    "Wilkerson",  "Nash",     "Summers",    "Atkins",     "Muller",
    "Schroder",    "Chen",       "Wang",       "Liu",      "Zhang",      "Singh",      "Shah",
    "Ali",         "Khan",       "Levy",       "Kowalski", "Novak",      "Nowak",      "Olsen",
    "Larsen",      "Johansson",  "Rossi",      "Russo",    "Bianchi",    "Romano",     "Okafor",
    "Adeyemi",     "Mensah",     "Haddad",     "Nasser",   "Yamamoto",   "Tanaka",     "Sato",
    "Pham",        "Le",         "Hoang",      "Vu",       "Choi",       "Kang",       "Cho",
    "Lim",
};

constexpr const char* kHispanicFamilyNames[] = {
    "Garcia",    "Rodriguez", "Martinez",  "Hernandez", "Lopez",      "Gonzalez", "Perez",
    "Sanchez",   "Ramirez",   "Torres",    "Flores",    "Rivera",     "Gomez",    "Diaz",
    "Reyes",     "Morales",   "Cruz",      "Ortiz",     "Gutierrez",  "Chavez",   "Ramos",
    "Ruiz",      "Alvarez",   "Mendoza",   "Vasquez",   "Castillo",   "Jimenez",  "Moreno",
    "Romero",    "Herrera",   "Medina",    "Aguilar",   "Vargas",     "Guzman",   "Munoz",
    "Mendez",    "Salazar",   "Soto",      "Delgado",   "Pena",       "Rios",     "Alvarado",
    "Sandoval",  "Contreras", "Valdez",    "Guerrero",  "Ortega",     "Estrada",  "Nunez",
    "Maldonado", "Vega",      "Vazquez",   "Santiago",  "Dominguez",  "Espinoza", "Silva",
    "Padilla",   "Marquez",   "Cortez",    "Rojas",     "Acosta",     "Figueroa", "Luna",
    "Juarez",    "Navarro",   "Campos",    "Molina",    "Avila",      "Ayala",    "Mejia",
    "Carrillo",  "Duran",     "Caballero", "Fuentes",   "Ibarra",     "Cabrera",  "Ochoa",
    "Cervantes", "Velasquez", "Salinas",   "Pacheco",   "Villanueva", "Bautista", "Escobar",
    "Orozco",    "Zamora",
};

constexpr const char* kRarePrefixes[] = {
    "Ash",  "Bar",   "Bel",   "Black", "Brad", "Brook",  "Carl", "Cole", "Dal",   "Den",  "Eld",
    "Fair", "Fen",   "Gar",   "Glad",  "Hal",  "Hart",   "Hol",  "Kel",  "Kin",   "Lang", "Lind",
    "Mar",  "Mel",   "Mor",   "Nor",   "Oak",  "Pen",    "Ral",  "Red",  "Ros",   "Rut",  "Sel",
    "Shel", "Stan",  "Stock", "Thorn", "Tre",  "Wal",    "Wes",  "Whit", "Win",   "Wood", "Yar",
    "Ab",   "Alder", "Bran",  "Cran",  "Dun",  "Elling", "Fin",  "Gold", "Grims", "Hen",  "Hux",
    "Kirk", "Lud",   "Mans",  "Nel",   "Ost",  "Pres",   "Quil", "Rad",  "Sten",  "Tal",  "Ul",
    "Van",  "Wick",  "Zel",   "Brech", "Kow",  "Lisz",
};

constexpr const char* kRareSuffixes[] = {
    "ley",  "ton",   "field", "man",   "son",   "berg", "stein",  "ford",  "wood",
    "er",   "ing",   "ridge", "worth", "well",  "by",   "ham",    "croft", "combe",
    "mont", "ard",   "ski",   "ek",    "ström", "lund", "ingham", "dale",  "holm",
    "feld", "hardt", "mann",  "sen",   "ovich", "escu", "inski",  "more",  "ville",
    "wick", "stead", "bury",  "kamp",  "ow",    "ett",  "ich",    "ers",   "gate",
};

constexpr const char* kMaleGivenNames[] = {
    "James",     "Robert",    "John",     "Michael",     "David",    "William",  "Richard",
    "Joseph",    "Thomas",    "Charles",  "Christopher", "Daniel",   "Matthew",  "Anthony",
    "Mark",      "Donald",    "Steven",   "Paul",        "Andrew",   "Joshua",   "Kenneth",
    "Kevin",     "Brian",     "George",   "Timothy",     "Ronald",   "Edward",   "Jason",
    "Jeffrey",   "Ryan",      "Jacob",    "Gary",        "Nicholas", "Eric",     "Jonathan",
    "Stephen",   "Larry",     "Justin",   "Scott",       "Brandon",  "Benjamin", "Samuel",
    "Gregory",   "Alexander", "Frank",    "Patrick",     "Raymond",  "Jack",     "Dennis",
    "Jerry",     "Tyler",     "Aaron",    "Henry",       "Douglas",  "Peter",    "Adam",
    "Nathan",    "Zachary",   "Walter",   "Kyle",        "Harold",   "Carl",     "Jeremy",
    "Gerald",    "Keith",     "Roger",    "Arthur",      "Terry",    "Lawrence", "Sean",
    "Christian", "Ethan",     "Austin",   "Joe",         "Albert",   "Jesse",    "Willie",
    "Billy",     "Bryan",     "Bruce",    "Noah",        "Jordan",   "Dylan",    "Ralph",
    "Roy",       "Alan",      "Wayne",    "Eugene",      "Juan",     "Gabriel",  "Louis",
    "Russell",   "Randy",     "Vincent",  "Philip",      "Logan",    "Bobby",    "Harry",
    "Johnny",    "Howard",    "Victor",   "Martin",      "Ernest",   "Stanley",  "Leonard",
    "Francis",   "Frederick", "Theodore", "Clarence",    "Herbert",  "Elijah",   "Liam",
    "Mason",     "Lucas",     "Oliver",   "Aiden",       "Caleb",    "Isaac",    "Owen",
    "Luke",      "Hunter",    "Connor",   "Evan",        "Isaiah",   "Cameron",  "Wyatt",
    "Jayden",    "Landon",    "Gavin",    "Chase",       "Ian",      "Cole",     "Blake",
    "Seth",      "Derek",     "Travis",   "Shawn",       "Marcus",   "Curtis",   "Leroy",
    "Melvin",    "Calvin",    "Glenn",    "Norman",      "Earl",     "Clifford", "Bernard",
    "Lloyd",     "Leon",      "Milton",   "Chester",     "Cecil",    "Franklin", "Marvin",
    "Jerome",    "Darnell",   "Terrence", "Andre",       "Malik",    "Tyrone",   "Jamal",
    "Rene",      "Noel",      "Zane",     "Ezekiel",     "Abraham",  "Solomon",  "Mohammed",
    "Omar",      "Ali",       "Wei",      "Minh",        "Raj",      "Arjun",    "Hiroshi",
    "Sven",      "Lars",      "Dmitri",
};

constexpr const char* kFemaleGivenNames[] = {
    "Mary",      "Patricia",  "Jennifer",  "Linda",      "Elizabeth", "Barbara",   "Susan",
    "Jessica",   "Sarah",     "Karen",     "Lisa",       "Nancy",     "Betty",     "Margaret",
    "Sandra",    "Ashley",    "Kimberly",  "Emily",      "Donna",     "Michelle",  "Carol",
    "Amanda",    "Dorothy",   "Melissa",   "Deborah",    "Stephanie", "Rebecca",   "Sharon",
    "Laura",     "Cynthia",   "Kathleen",  "Amy",        "Angela",    "Shirley",   "Anna",
    "Brenda",    "Pamela",    "Emma",      "Nicole",     "Helen",     "Samantha",  "Katherine",
    "Christine", "Debra",     "Rachel",    "Carolyn",    "Janet",     "Catherine", "Virginia",
    "Heather",   "Diane",     "Ruth",      "Julie",      "Olivia",    "Joyce",     "Victoria",
    "Kelly",     "Christina", "Lauren",    "Joan",       "Evelyn",    "Judith",    "Megan",
    "Andrea",    "Cheryl",    "Hannah",    "Jacqueline", "Martha",    "Gloria",    "Teresa",
    "Ann",       "Sara",      "Madison",   "Frances",    "Kathryn",   "Janice",    "Jean",
    "Abigail",   "Alice",     "Judy",      "Sophia",     "Grace",     "Denise",    "Amber",
    "Doris",     "Marilyn",   "Danielle",  "Beverly",    "Isabella",  "Theresa",   "Diana",
    "Natalie",   "Brittany",  "Charlotte", "Marie",      "Kayla",     "Alexis",    "Lori",
    "Dolores",   "Mildred",   "Florence",  "Edith",      "Irene",     "Lillian",   "Louise",
    "Rose",      "Josephine", "Eleanor",   "Harriet",    "Gertrude",  "Agnes",     "Loretta",
    "Wilma",     "Ava",       "Mia",       "Chloe",      "Zoe",       "Ella",      "Avery",
    "Harper",    "Aubrey",    "Addison",   "Brooklyn",   "Paige",     "Taylor",    "Morgan",
    "Jordan",    "Courtney",  "Kristen",   "Tiffany",    "Crystal",   "Erin",      "Tamara",
    "Monica",    "Veronica",  "Valerie",   "Wendy",      "Tracy",     "Dawn",      "Peggy",
    "Connie",    "Vicki",     "Tanya",     "Latoya",     "Keisha",    "Aaliyah",   "Imani",
    "Jasmine",   "Fatima",    "Aisha",     "Mei",        "Ling",      "Priya",     "Anjali",
    "Yuki",      "Ingrid",    "Astrid",    "Katarina",   "Natasha",   "Noelle",    "Renee",
    "Genevieve", "Eloise",    "Beatrice",  "Penelope",   "Cora",      "Maeve",     "Nora",
    "Leah",      "Claire",    "Lydia",
};

constexpr const char* kHispanicMaleGivenNames[] = {
    "Jose",     "Juan",      "Luis",      "Carlos",    "Jesus",   "Miguel",  "Jorge",
    "Antonio",  "Alejandro", "Francisco", "Manuel",    "Pedro",   "Ricardo", "Roberto",
    "Fernando", "Javier",    "Rafael",    "Eduardo",   "Sergio",  "Raul",    "Ramon",
    "Hector",   "Mario",     "Oscar",     "Ruben",     "Angel",   "Arturo",  "Adrian",
    "Enrique",  "Joaquin",   "Diego",     "Andres",    "Ivan",    "Julio",   "Cesar",
    "Santiago", "Mateo",     "Emiliano",  "Guillermo", "Alfredo", "Ignacio",
};

constexpr const char* kHispanicFemaleGivenNames[] = {
    "Maria",     "Ana",      "Guadalupe", "Rosa",     "Carmen",    "Juana",   "Margarita",
    "Veronica",  "Gabriela", "Lucia",     "Sofia",    "Isabel",    "Elena",   "Adriana",
    "Alejandra", "Claudia",  "Patricia",  "Monica",   "Yolanda",   "Leticia", "Silvia",
    "Beatriz",   "Ines",     "Marisol",   "Ximena",   "Valentina", "Camila",  "Daniela",
    "Esperanza", "Dolores",  "Josefina",  "Consuelo", "Araceli",   "Lourdes", "Raquel",
    "Angelica",  "Natalia",  "Paola",     "Liliana",  "Rocio",
};

// About 40% of Vietnamese people are Nguyễn; the Zipf weights give the first name about 25%.
constexpr const char* kVietnameseFamilyNames[] = {
    "Nguyễn", "Trần", "Lê",    "Phạm",  "Hoàng", "Huỳnh", "Phan",  "Vũ",     "Võ",  "Đặng",
    "Bùi",    "Đỗ",   "Hồ",    "Ngô",   "Dương", "Lý",    "Đinh",  "Trương", "Đào", "Lâm",
    "Mai",    "Cao",  "Lương", "Trịnh", "Châu",  "Tạ",    "Quách", "Thái",   "Tôn", "La",
};

constexpr const char* kVietnameseMaleGivenNames[] = {
    "Minh",  "Đức",   "Tuấn",  "Quang", "Hải",       "Bảo",     "Hùng",    "Dũng",     "Long",
    "Nam",   "Sơn",   "Huy",   "Thắng", "Phúc",      "Khoa",    "Trung",   "Hiếu",     "Thành",
    "Vinh",  "Tâm",   "Khánh", "Việt",  "Hưng",      "Cường",   "Tùng",    "Phong",    "Toàn",
    "Thịnh", "Lâm",   "Kiên",  "Nhân",  "Đạt",       "Duy",     "An",      "Anh",      "Trí",
    "Tài",   "Hoàng", "Thái",  "Lộc",   "Minh Quân", "Đức Anh", "Gia Huy", "Quốc Bảo", "Hoàng Nam",
};

constexpr const char* kVietnameseFemaleGivenNames[] = {
    "Anh",      "Linh",      "Thảo",      "Hương",      "Phương",    "Ngọc",     "Mai",
    "Lan",      "Hoa",       "Trang",     "Hà",         "Thủy",      "Hằng",     "Nhung",
    "Hạnh",     "Loan",      "Vy",        "Nhi",        "Trâm",      "Yến",      "Uyên",
    "Quỳnh",    "Tuyết",     "Oanh",      "Diệp",       "Hồng",      "Thu",      "Vân",
    "Châu",     "Ánh Dương", "Thị Mai",   "Ngọc Anh",   "Bảo Châu",  "Minh Anh", "Thanh Hương",
    "Kim Ngân", "Hải Yến",   "Thùy Linh", "Phương Anh", "Diệu Linh",
};

constexpr const char* kVietnameseMaleMiddleNames[] = {
    "Văn", "Đình", "Hữu", "Quốc", "Minh", "Đức", "Công", "Xuân", "Thanh", "Ngọc", "Gia", "Trọng",
};

constexpr const char* kVietnameseFemaleMiddleNames[] = {
    "Thị", "Ngọc", "Thu", "Thanh", "Kim", "Bích", "Hồng", "Mỹ", "Thùy", "Minh", "Diệu",
};

constexpr const char* kSurnameParticles[] = {"de", "del", "de la", "y"};

constexpr NicknamePair kNicknames[] = {
    {"Robert", "Bob"},        {"Robert", "Rob"},       {"Robert", "Bobby"},
    {"Robert", "Bert"},       {"William", "Bill"},     {"William", "Will"},
    {"William", "Billy"},     {"William", "Liam"},     {"James", "Jim"},
    {"James", "Jimmy"},       {"James", "Jamie"},      {"John", "Jack"},
    {"John", "Johnny"},       {"Michael", "Mike"},     {"Michael", "Mikey"},
    {"Richard", "Rick"},      {"Richard", "Dick"},     {"Richard", "Rich"},
    {"Joseph", "Joe"},        {"Joseph", "Joey"},      {"Thomas", "Tom"},
    {"Thomas", "Tommy"},      {"Charles", "Charlie"},  {"Charles", "Chuck"},
    {"Christopher", "Chris"}, {"Daniel", "Dan"},       {"Daniel", "Danny"},
    {"Matthew", "Matt"},      {"Anthony", "Tony"},     {"Donald", "Don"},
    {"Steven", "Steve"},      {"Stephen", "Steve"},    {"Andrew", "Andy"},
    {"Andrew", "Drew"},       {"Joshua", "Josh"},      {"Kenneth", "Ken"},
    {"Kenneth", "Kenny"},     {"Timothy", "Tim"},      {"Ronald", "Ron"},
    {"Ronald", "Ronnie"},     {"Edward", "Ed"},        {"Edward", "Eddie"},
    {"Edward", "Ted"},        {"Jeffrey", "Jeff"},     {"Jacob", "Jake"},
    {"Nicholas", "Nick"},     {"Jonathan", "Jon"},     {"Lawrence", "Larry"},
    {"Benjamin", "Ben"},      {"Samuel", "Sam"},       {"Gregory", "Greg"},
    {"Alexander", "Alex"},    {"Alexander", "Xander"}, {"Frank", "Frankie"},
    {"Francis", "Frank"},     {"Patrick", "Pat"},      {"Raymond", "Ray"},
    {"Dennis", "Denny"},      {"Gerald", "Jerry"},     {"Henry", "Hank"},
    {"Douglas", "Doug"},      {"Peter", "Pete"},       {"Zachary", "Zach"},
    {"Walter", "Walt"},       {"Harold", "Hal"},       {"Harold", "Harry"},
    {"Arthur", "Art"},        {"Terrence", "Terry"},   {"Albert", "Al"},
    {"Bruce", "Bruno"},       {"Eugene", "Gene"},      {"Louis", "Lou"},
    {"Randolph", "Randy"},    {"Vincent", "Vince"},    {"Philip", "Phil"},
    {"Victor", "Vic"},        {"Stanley", "Stan"},     {"Leonard", "Leo"},
    {"Leonard", "Len"},       {"Frederick", "Fred"},   {"Theodore", "Ted"},
    {"Theodore", "Teddy"},    {"Theodore", "Theo"},    {"Clarence", "Clay"},
    {"Herbert", "Herb"},      {"Isaac", "Ike"},        {"Franklin", "Frank"},
    {"Abraham", "Abe"},       {"Solomon", "Sol"},      {"Ezekiel", "Zeke"},
    {"Nathan", "Nate"},       {"Cameron", "Cam"},      {"Mary", "Molly"},
    {"Mary", "Polly"},        {"Patricia", "Pat"},     {"Patricia", "Patty"},
    {"Patricia", "Trish"},    {"Jennifer", "Jen"},     {"Jennifer", "Jenny"},
    {"Elizabeth", "Liz"},     {"Elizabeth", "Beth"},   {"Elizabeth", "Betty"},
    {"Elizabeth", "Lizzie"},  {"Elizabeth", "Eliza"},  {"Elizabeth", "Betsy"},
    {"Barbara", "Barb"},      {"Barbara", "Babs"},     {"Susan", "Sue"},
    {"Susan", "Susie"},       {"Jessica", "Jess"},     {"Jessica", "Jessie"},
    {"Margaret", "Maggie"},   {"Margaret", "Peggy"},   {"Margaret", "Meg"},
    {"Margaret", "Marge"},    {"Sandra", "Sandy"},     {"Kimberly", "Kim"},
    {"Emily", "Em"},          {"Michelle", "Shelly"},  {"Carol", "Carrie"},
    {"Amanda", "Mandy"},      {"Dorothy", "Dot"},      {"Dorothy", "Dottie"},
    {"Melissa", "Missy"},     {"Melissa", "Mel"},      {"Deborah", "Debbie"},
    {"Deborah", "Deb"},       {"Debra", "Debbie"},     {"Stephanie", "Steph"},
    {"Rebecca", "Becky"},     {"Rebecca", "Becca"},    {"Cynthia", "Cindy"},
    {"Kathleen", "Kathy"},    {"Kathleen", "Kate"},    {"Katherine", "Kate"},
    {"Katherine", "Katie"},   {"Katherine", "Kathy"},  {"Catherine", "Cathy"},
    {"Catherine", "Cat"},     {"Christine", "Chris"},  {"Christina", "Tina"},
    {"Samantha", "Sam"},      {"Pamela", "Pam"},       {"Virginia", "Ginny"},
    {"Judith", "Judy"},       {"Victoria", "Vicky"},   {"Victoria", "Tori"},
    {"Jacqueline", "Jackie"}, {"Teresa", "Terri"},     {"Theresa", "Tess"},
    {"Frances", "Fran"},      {"Frances", "Frannie"},  {"Abigail", "Abby"},
    {"Alexis", "Lexi"},       {"Josephine", "Josie"},  {"Josephine", "Jo"},
    {"Eleanor", "Ellie"},     {"Eleanor", "Nell"},     {"Florence", "Flo"},
    {"Gertrude", "Trudy"},    {"Lillian", "Lily"},     {"Louise", "Lou"},
    {"Valerie", "Val"},       {"Veronica", "Ronnie"},  {"Natalie", "Nat"},
    {"Penelope", "Penny"},    {"Beatrice", "Bea"},     {"Harriet", "Hattie"},
    {"Mildred", "Millie"},    {"Loretta", "Retta"},    {"Danielle", "Dani"},
    {"Andrea", "Andi"},       {"Cheryl", "Cher"},      {"Madison", "Maddie"},
    {"Olivia", "Liv"},        {"Isabella", "Bella"},   {"Isabella", "Izzy"},
    {"Charlotte", "Charlie"}, {"Evelyn", "Evie"},      {"Genevieve", "Gen"},
    {"Jose", "Pepe"},         {"Francisco", "Paco"},   {"Francisco", "Pancho"},
    {"Guadalupe", "Lupe"},    {"Manuel", "Manny"},     {"Alejandro", "Alex"},
    {"Eduardo", "Lalo"},      {"Roberto", "Beto"},     {"Alfredo", "Fredo"},
    {"Enrique", "Kike"},      {"Jesus", "Chuy"},       {"Ignacio", "Nacho"},
    {"Consuelo", "Chelo"},    {"Dolores", "Lola"},     {"Josefina", "Josie"},
    {"Rosa", "Rosie"},        {"Margarita", "Rita"},   {"Maria", "Mari"},
};

constexpr AccentPair kGivenAccents[] = {
    {"Jose", "José"},       {"Maria", "María"},         {"Jesus", "Jesús"},
    {"Zoe", "Zoë"},         {"Chloe", "Chloë"},         {"Rene", "René"},
    {"Renee", "Renée"},     {"Andre", "André"},         {"Noel", "Noël"},
    {"Noelle", "Noëlle"},   {"Ramon", "Ramón"},         {"Joaquin", "Joaquín"},
    {"Sofia", "Sofía"},     {"Ines", "Inés"},           {"Raul", "Raúl"},
    {"Angel", "Ángel"},     {"Hector", "Héctor"},       {"Lucia", "Lucía"},
    {"Monica", "Mónica"},   {"Veronica", "Verónica"},   {"Ruben", "Rubén"},
    {"Adrian", "Adrián"},   {"Martin", "Martín"},       {"Cesar", "César"},
    {"Andres", "Andrés"},   {"Ivan", "Iván"},           {"Angelica", "Angélica"},
    {"Rocio", "Rocío"},     {"Genevieve", "Geneviève"}, {"Eloise", "Éloïse"},
    {"Beatriz", "Beátriz"},
};

constexpr AccentPair kFamilyAccents[] = {
    {"Muller", "Müller"},       {"Schroder", "Schröder"},   {"Garcia", "García"},
    {"Rodriguez", "Rodríguez"}, {"Martinez", "Martínez"},   {"Hernandez", "Hernández"},
    {"Lopez", "López"},         {"Gonzalez", "González"},   {"Perez", "Pérez"},
    {"Sanchez", "Sánchez"},     {"Ramirez", "Ramírez"},     {"Gomez", "Gómez"},
    {"Diaz", "Díaz"},           {"Gutierrez", "Gutiérrez"}, {"Ruiz", "Ruíz"},
    {"Alvarez", "Álvarez"},     {"Vasquez", "Vásquez"},     {"Jimenez", "Jiménez"},
    {"Munoz", "Muñoz"},         {"Mendez", "Méndez"},       {"Pena", "Peña"},
    {"Rios", "Ríos"},           {"Nunez", "Núñez"},         {"Vazquez", "Vázquez"},
    {"Dominguez", "Domínguez"}, {"Marquez", "Márquez"},     {"Avila", "Ávila"},
    {"Mejia", "Mejía"},         {"Duran", "Durán"},         {"Velasquez", "Velásquez"},
    {"Johansson", "Jóhansson"}, {"Lindstrom", "Lindström"},
};

constexpr const char* kStreetNames[] = {
    "Main",       "Oak",
    "Maple",      "Park",
    "Pine",       "Cedar",
    "Elm",        "Washington",
    "Lake",       "Hill",
    "Walnut",     "Spring",
    "North",      "Ridge",
    "Church",     "Willow",
    "Mill",       "Sunset",
    "Railroad",   "Jefferson",
    "Highland",   "Jackson",
    "Lincoln",    "Forest",
    "Madison",    "River",
    "Meadow",     "Chestnut",
    "Center",     "Franklin",
    "Adams",      "Cherry",
    "Dogwood",    "Hickory",
    "Locust",     "Magnolia",
    "Birch",      "Poplar",
    "Sycamore",   "Valley",
    "Woodland",   "Lakeview",
    "Broad",      "Market",
    "Front",      "Water",
    "High",       "School",
    "Union",      "Prospect",
    "Grove",      "Academy",
    "Orchard",    "Cypress",
    "Laurel",     "Aspen",
    "Holly",      "Juniper",
    "Hawthorne",  "Bayview",
    "Riverside",  "Fairview",
    "Pleasant",   "Green",
    "King",       "Queen",
    "Second",     "Third",
    "Fourth",     "Fifth",
    "Sixth",      "Seventh",
    "Eighth",     "Ninth",
    "Tenth",      "1st",
    "2nd",        "3rd",
    "Rio Grande", "Santa Fe",
    "El Camino",  "Martin Luther King Jr",
    "Old Mill",   "Country Club",
};

constexpr const char* kStreetTypes[] = {
    "St", "Ave", "Rd", "Dr", "Ln", "Blvd", "Ct", "Way", "Pl", "Cir", "Ter", "Pkwy", "Hwy", "Trl",
};

constexpr City kCities[] = {
    {"New York", "NY", "100", "212"},     {"Brooklyn", "NY", "112", "718"},
    {"Buffalo", "NY", "142", "716"},      {"Los Angeles", "CA", "900", "213"},
    {"San Diego", "CA", "921", "619"},    {"San Jose", "CA", "951", "408"},
    {"Fresno", "CA", "937", "559"},       {"Sacramento", "CA", "958", "916"},
    {"Chicago", "IL", "606", "312"},      {"Springfield", "IL", "627", "217"},
    {"Houston", "TX", "770", "713"},      {"San Antonio", "TX", "782", "210"},
    {"Dallas", "TX", "752", "214"},       {"El Paso", "TX", "799", "915"},
    {"Austin", "TX", "787", "512"},       {"Phoenix", "AZ", "850", "602"},
    {"Tucson", "AZ", "857", "520"},       {"Philadelphia", "PA", "191", "215"},
    {"Pittsburgh", "PA", "152", "412"},   {"Jacksonville", "FL", "322", "904"},
    {"Miami", "FL", "331", "305"},        {"Tampa", "FL", "336", "813"},
    {"Orlando", "FL", "328", "407"},      {"Columbus", "OH", "432", "614"},
    {"Cleveland", "OH", "441", "216"},    {"Cincinnati", "OH", "452", "513"},
    {"Indianapolis", "IN", "462", "317"}, {"Charlotte", "NC", "282", "704"},
    {"Raleigh", "NC", "276", "919"},      {"Seattle", "WA", "981", "206"},
    {"Spokane", "WA", "992", "509"},      {"Denver", "CO", "802", "303"},
    {"Boston", "MA", "021", "617"},       {"Worcester", "MA", "016", "508"},
    {"Nashville", "TN", "372", "615"},    {"Memphis", "TN", "381", "901"},
    {"Detroit", "MI", "482", "313"},      {"Grand Rapids", "MI", "495", "616"},
    {"Portland", "OR", "972", "503"},     {"Las Vegas", "NV", "891", "702"},
    {"Louisville", "KY", "402", "502"},   {"Baltimore", "MD", "212", "410"},
    {"Milwaukee", "WI", "532", "414"},    {"Madison", "WI", "537", "608"},
    {"Albuquerque", "NM", "871", "505"},  {"Kansas City", "MO", "641", "816"},
    {"St. Louis", "MO", "631", "314"},    {"Omaha", "NE", "681", "402"},
    {"Atlanta", "GA", "303", "404"},      {"Savannah", "GA", "314", "912"},
    {"Minneapolis", "MN", "554", "612"},  {"New Orleans", "LA", "701", "504"},
    {"Newark", "NJ", "071", "973"},       {"Providence", "RI", "029", "401"},
    {"Hartford", "CT", "061", "860"},     {"Salt Lake City", "UT", "841", "801"},
    {"Birmingham", "AL", "352", "205"},   {"Richmond", "VA", "232", "804"},
    {"Boise", "ID", "837", "208"},        {"Des Moines", "IA", "503", "515"},
    {"Little Rock", "AR", "722", "501"},  {"Oklahoma City", "OK", "731", "405"},
    {"Wichita", "KS", "672", "316"},      {"Burlington", "VT", "054", "802"},
    {"Portland", "ME", "041", "207"},     {"Anchorage", "AK", "995", "907"},
    {"Honolulu", "HI", "968", "808"},     {"Charleston", "WV", "253", "304"},
    {"Sioux Falls", "SD", "571", "605"},  {"Fargo", "ND", "581", "701"},
    {"Billings", "MT", "591", "406"},     {"Cheyenne", "WY", "820", "307"},
    {"Wilmington", "DE", "198", "302"},   {"Jackson", "MS", "392", "601"},
    {"Columbia", "SC", "292", "803"},     {"Manchester", "NH", "031", "603"},
    {"Washington", "DC", "200", "202"},   {"San Juan", "PR", "009", "787"},
};

constexpr const char* kEmailDomains[] = {
    "example.com",       "example.org",      "example.net",  "mail.example.com",
    "inbox.example.org", "post.example.net", "webmail.test", "patients.test",
};

}  // namespace

std::span<const char* const> FamilyNames() { return kFamilyNames; }
std::span<const char* const> HispanicFamilyNames() { return kHispanicFamilyNames; }
std::span<const char* const> RareSurnamePrefixes() { return kRarePrefixes; }
std::span<const char* const> RareSurnameSuffixes() { return kRareSuffixes; }
std::span<const char* const> MaleGivenNames() { return kMaleGivenNames; }
std::span<const char* const> FemaleGivenNames() { return kFemaleGivenNames; }
std::span<const char* const> HispanicMaleGivenNames() { return kHispanicMaleGivenNames; }
std::span<const char* const> HispanicFemaleGivenNames() { return kHispanicFemaleGivenNames; }
std::span<const char* const> VietnameseFamilyNames() { return kVietnameseFamilyNames; }
std::span<const char* const> VietnameseMaleGivenNames() { return kVietnameseMaleGivenNames; }
std::span<const char* const> VietnameseFemaleGivenNames() { return kVietnameseFemaleGivenNames; }
std::span<const char* const> VietnameseMaleMiddleNames() { return kVietnameseMaleMiddleNames; }
std::span<const char* const> VietnameseFemaleMiddleNames() { return kVietnameseFemaleMiddleNames; }
std::span<const char* const> SurnameParticles() { return kSurnameParticles; }
std::span<const NicknamePair> Nicknames() { return kNicknames; }
std::span<const AccentPair> GivenNameAccents() { return kGivenAccents; }
std::span<const AccentPair> FamilyNameAccents() { return kFamilyAccents; }
std::span<const char* const> StreetNames() { return kStreetNames; }
std::span<const char* const> StreetTypes() { return kStreetTypes; }
std::span<const City> Cities() { return kCities; }
std::span<const char* const> EmailDomains() { return kEmailDomains; }

}  // namespace hie::mpi::gen_tables

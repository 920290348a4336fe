package synth

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// The vocabularies are built from a fixed seed, independent of Config.Seed, so that every
// generated dataset describes the same "country": seeds change the people, not the names in
// use. Real common names head each list (so frequencies look like a census: a few names are
// very common), and pronounceable invented names form the long tail.

const vocabSeed = 0x46454252 // "FEBR"

var commonGiven = strings.Fields(`jack thomas joshua william lachlan james ethan samuel daniel ryan
	benjamin matthew luke nicholas alexander jacob dylan liam riley harrison isaac oliver noah
	charlotte emily jessica olivia chloe sophie ella hannah emma grace isabella georgia sarah
	lily mia amelia ruby zoe madison jasmine lauren caitlin tahlia amber kate alice lucy
	michael david john peter andrew mark paul stephen robert christopher anthony
	mary patricia jennifer linda elizabeth susan margaret karen helen michelle`)

var commonSurnames = strings.Fields(`smith jones williams brown wilson taylor johnson white martin
	anderson thompson nguyen thomas walker harris lee ryan robinson kelly king davis wright
	evans roberts green hall wood jackson clarke patel khan lewis james phillips mitchell
	campbell hughes morris young murphy cook turner ward allen scott baker carter edwards
	morgan bell collins stewart clark hill reid murray watson fraser hunt kennedy graham
	ross russell shaw kaur singh chen wang li zhang liu huang tran le pham ferguson bennett`)

var streetTypes = []string{"street", "road", "avenue", "place", "crescent", "circuit", "close", "drive", "court", "way", "parade", "lane"}

var states = []struct {
	name        string
	weight      float64
	code, codes int // postcodes [code, code+codes)
}{{"nsw", 32, 2000, 600}, {"vic", 26, 3000, 1000}, {"qld", 20, 4000, 1000}, {"wa", 10, 6000, 1000},
	{"sa", 7, 5000, 1000}, {"tas", 2, 7000, 400}, {"act", 2, 2600, 300}, {"nt", 1, 800, 200}}

var (
	onsets = strings.Fields("b br c ch cl d dr f fl g gr h j k kr l m n p pr r s sh st t tr v w y z")
	nuclei = strings.Fields("a e i o u a e i o ai ea ou ie")
	codas  = []string{"", "", "", "n", "r", "l", "s", "th", "m", "rd", "nt", "ck", "y", "st"}
	ends   = []string{"", "", "son", "ton", "ley", "well", "ford", "field", "wood", "berg", "man", "er", "ham", "by", "ie", "a", "ette", "ina", "en"}
)

// vocab is a list of values with a cumulative distribution for weighted draws.
type vocab struct {
	values []string
	cum    []float64
}

// zipfVocab weights the i-th value 1/(i+1)^s.
func zipfVocab(values []string, s float64) vocab {
	v := vocab{values: values, cum: make([]float64, len(values))}
	total := 0.0
	for i := range values {
		total += 1 / math.Pow(float64(i+1), s)
		v.cum[i] = total
	}
	return v
}

func (v *vocab) draw(rng *rand.Rand) string {
	x := rng.Float64() * v.cum[len(v.cum)-1]
	i, _ := slices.BinarySearch(v.cum, x)
	return v.values[min(i, len(v.values)-1)]
}

// inventWords makes n distinct pronounceable words, none in taken.
func inventWords(rng *rand.Rand, n, syllables int, taken []string) []string {
	seen := make(map[string]bool, n+len(taken))
	for _, t := range taken {
		seen[t] = true
	}
	var out []string
	for len(out) < n {
		var b strings.Builder
		k := 1 + rng.IntN(syllables)
		for range k {
			b.WriteString(onsets[rng.IntN(len(onsets))])
			b.WriteString(nuclei[rng.IntN(len(nuclei))])
			b.WriteString(codas[rng.IntN(len(codas))])
		}
		b.WriteString(ends[rng.IntN(len(ends))])
		w := b.String()
		if len(w) < 3 || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}

// locality is a suburb with its postcode and state: the three agree, as in real addresses.
type locality struct{ suburb, postcode, state string }

// world holds every vocabulary.
type world struct {
	given, surname, street, building vocab
	localities                       []locality
	locCum                           []float64
}

func newWorld() *world {
	rng := rand.New(rand.NewPCG(vocabSeed, 1))
	w := &world{}
	given := append(slices.Clone(commonGiven), inventWords(rng, 4000, 3, commonGiven)...)
	w.given = zipfVocab(given, 0.8)
	surnames := append(slices.Clone(commonSurnames), inventWords(rng, 40000, 3, commonSurnames)...)
	w.surname = zipfVocab(surnames, 0.7)
	names := inventWords(rng, 6000, 2, nil)
	streets := make([]string, len(names))
	for i, n := range names {
		streets[i] = n + " " + streetTypes[rng.IntN(len(streetTypes))]
	}
	w.street = zipfVocab(streets, 0.6)
	buildingWords := []string{"park", "village", "house", "court", "gardens", "estate", "farm", "lodge", "centre", "mews", "towers", "homestead"}
	bnames := inventWords(rng, 1500, 2, nil)
	var buildings []string
	for _, n := range bnames {
		buildings = append(buildings, n+" "+buildingWords[rng.IntN(len(buildingWords))], n)
	}
	w.building = zipfVocab(buildings, 0.5)
	// Suburbs share postcodes, as they do in Australia.
	suburbs := inventWords(rng, 4000, 3, nil)
	total := 0.0
	for i, s := range suburbs {
		st := states[pickState(rng)]
		pc := strconv.Itoa(st.code + rng.IntN(st.codes))
		if len(pc) < 4 {
			pc = strings.Repeat("0", 4-len(pc)) + pc
		}
		w.localities = append(w.localities, locality{s, pc, st.name})
		total += 1 / math.Pow(float64(i+1), 0.5)
		w.locCum = append(w.locCum, total)
	}
	return w
}

func pickState(rng *rand.Rand) int {
	total := 0.0
	for _, s := range states {
		total += s.weight
	}
	x := rng.Float64() * total
	for i, s := range states {
		if x < s.weight {
			return i
		}
		x -= s.weight
	}
	return 0
}

func (w *world) drawLocality(rng *rand.Rand) locality {
	x := rng.Float64() * w.locCum[len(w.locCum)-1]
	i, _ := slices.BinarySearch(w.locCum, x)
	return w.localities[min(i, len(w.localities)-1)]
}

package demo

import (
	"math/rand/v2"
	"strings"
)

// Review is one generated review: its text and whether its author liked the
// thing reviewed.
type Review struct {
	Text     string
	Positive bool
}

// Label returns the review's label, "positive" or "negative".
func (r Review) Label() string {
	if r.Positive {
		return "positive"
	}
	return "negative"
}

// The generator's word lists. A review talks about one item of one domain;
// its clauses judge the item's aspects with adjectives, often intensified,
// sometimes negated ("not bad" is praise), sometimes as a concession whose
// polarity is the opposite of the review's ("the music was lovely, but ...").
type domain struct {
	items   []string
	aspects []string
	filler  []string
}

var domains = []domain{
	{
		items:   []string{"the movie", "this film", "the show", "the sequel", "this documentary"},
		aspects: []string{"plot", "acting", "music", "ending", "dialogue", "pacing", "cast", "soundtrack", "script", "camera work", "story", "humour", "lead actor", "villain"},
		filler:  []string{"i watched it last weekend", "we saw it at the cinema on friday", "my sister picked it for movie night", "it came out last year", "i streamed it on my laptop", "it runs for about two hours", "we had popcorn and a late dinner", "a friend told me about it"},
	},
	{
		items:   []string{"this phone", "the laptop", "these headphones", "the blender", "this camera", "the vacuum cleaner", "the coffee maker"},
		aspects: []string{"battery", "screen", "design", "price", "sound", "build quality", "keyboard", "motor", "lid", "charger", "manual", "packaging", "app", "buttons"},
		filler:  []string{"it arrived on tuesday", "i bought it for my brother", "the box was blue", "i have used it for a month", "it replaced my old one", "the delivery took three days", "i ordered it online", "my neighbour has the same model"},
	},
	{
		items:   []string{"the hotel", "this restaurant", "the cafe", "the hostel", "this bakery"},
		aspects: []string{"service", "food", "room", "staff", "breakfast", "location", "coffee", "menu", "view", "bed", "bread", "waiter", "terrace", "wifi"},
		filler:  []string{"we stayed for two nights", "we went there for my birthday", "it is near the station", "we booked it a week ahead", "it was a rainy evening", "we came with the kids", "i travel there for work", "it opened last spring"},
	},
	{
		items:   []string{"the book", "this novel", "the album", "this game", "the podcast"},
		aspects: []string{"writing", "characters", "chapters", "songs", "artwork", "levels", "controls", "voice", "melodies", "world", "puzzles", "lyrics", "narrator", "graphics"},
		filler:  []string{"i read it on the train", "i listened to it on a long drive", "a colleague lent it to me", "i finished it in a week", "i played it over the holidays", "it was a gift from my aunt", "i picked it up at the airport", "my book club chose it"},
	},
}

var (
	positiveAdj = []string{"good", "great", "excellent", "wonderful", "amazing", "brilliant", "superb", "lovely", "delightful", "fantastic",
		"charming", "solid", "impressive", "enjoyable", "pleasant", "beautiful", "clever", "perfect", "fresh", "smooth", "reliable", "gorgeous", "stunning", "terrific"}
	negativeAdj = []string{"bad", "terrible", "awful", "boring", "dull", "poor", "weak", "horrible", "disappointing", "mediocre",
		"bland", "clumsy", "annoying", "cheap", "messy", "flat", "painful", "tedious", "sloppy", "awkward", "forgettable", "lousy", "dreadful", "clunky"}
	intensifiers  = []string{"", "", "", "really", "very", "quite", "truly", "pretty", "rather", "extremely", "so"}
	copulas       = []string{"was", "is", "felt", "seemed", "looked"}
	negCopulas    = []string{"was not", "is not", "was never", "did not feel", "was hardly"}
	positiveVerbs = []string{"loved", "liked", "enjoyed", "adored", "appreciated"}
	negativeVerbs = []string{"hated", "disliked", "regretted", "could not stand"}
	positiveVerds = []string{"i would recommend it", "five stars", "worth every penny", "i would buy it again", "highly recommended", "i will be back", "a real gem", "four stars from me"}
	negativeVerds = []string{"i would not recommend it", "one star", "a waste of money", "i want my money back", "avoid it", "never again", "two stars at most", "i returned it"}
	concessives   = []string{"although", "even though", "while"}
	contrasts     = []string{"but", "yet", "but overall"}
)

// generator draws reviews from a seeded random source.
type generator struct{ r *rand.Rand }

func newGenerator(seed uint64) *generator {
	return &generator{r: rand.New(rand.NewPCG(seed, 0x5eed0f9e7a11))}
}

func (g *generator) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

// adjective returns an adjective phrase of the given polarity, e.g.
// "really great".
func (g *generator) adjective(positive bool) string {
	adj := g.pick(negativeAdj)
	if positive {
		adj = g.pick(positiveAdj)
	}
	if in := g.pick(intensifiers); in != "" {
		return in + " " + adj
	}
	return adj
}

// opinion returns a clause about aspect expressing the given polarity,
// directly ("the plot was great"), by negating the opposite ("the plot was
// not boring") or with a verb ("i loved the plot").
func (g *generator) opinion(aspect string, positive bool) string {
	switch n := g.r.IntN(10); {
	case n < 5:
		return "the " + aspect + " " + plural(aspect, g.pick(copulas)) + " " + g.adjective(positive)
	case n < 7:
		adj := g.pick(positiveAdj)
		if positive {
			adj = g.pick(negativeAdj)
		}
		return "the " + aspect + " " + plural(aspect, g.pick(negCopulas)) + " " + adj
	case n < 8:
		return "i found the " + aspect + " " + g.adjective(positive)
	default:
		verb := g.pick(negativeVerbs)
		if positive {
			verb = g.pick(positiveVerbs)
		}
		return "i " + verb + " the " + aspect
	}
}

// plural puts the verb phrase vp ("was not", "seemed") in the plural when
// the aspect is ("the songs were not").
func plural(aspect, vp string) string {
	if !strings.HasSuffix(aspect, "s") {
		return vp
	}
	verb, rest, _ := strings.Cut(vp, " ")
	switch verb {
	case "was":
		verb = "were"
	case "is":
		verb = "are"
	}
	if rest == "" {
		return verb
	}
	return verb + " " + rest
}

// review writes one review of the given overall polarity. Every clause
// agrees with it except an optional concession, which the main clause
// overrides; so a single adjective does not decide the label, and
// negation and clause structure matter.
func (g *generator) review(positive bool) Review {
	d := domains[g.r.IntN(len(domains))]
	item := g.pick(d.items)
	aspects := g.r.Perm(len(d.aspects))
	next := 0
	aspect := func() string { next++; return d.aspects[aspects[next-1]] }

	var sentences []string
	if g.r.IntN(3) == 0 {
		sentences = append(sentences, g.pick(d.filler))
	}
	switch g.r.IntN(4) {
	case 0: // concession first: "although the plot was dull, i loved the acting"
		sentences = append(sentences, g.pick(concessives)+" "+g.opinion(aspect(), !positive)+", "+g.opinion(aspect(), positive))
	case 1: // contrast: "the plot was dull but i loved the acting"
		sentences = append(sentences, g.opinion(aspect(), !positive)+" "+g.pick(contrasts)+" "+g.opinion(aspect(), positive))
	default:
		sentences = append(sentences, g.opinion(aspect(), positive))
		if g.r.IntN(2) == 0 {
			sentences[len(sentences)-1] += " and " + g.opinion(aspect(), positive)
		}
	}
	switch g.r.IntN(3) {
	case 0:
		verdict := g.pick(negativeVerds)
		if positive {
			verdict = g.pick(positiveVerds)
		}
		sentences = append(sentences, verdict)
	case 1:
		sentences = append(sentences, g.opinion(aspect(), positive))
	}
	if len(sentences) > 0 && !strings.HasPrefix(sentences[0], "i ") && g.r.IntN(2) == 0 {
		sentences[0] = item + ": " + sentences[0]
	}
	for i, s := range sentences {
		sentences[i] = s + "."
	}
	return Review{Text: strings.Join(sentences, " "), Positive: positive}
}

// Reviews returns n reviews drawn deterministically from seed, each
// positive with probability one half.
func Reviews(n int, seed uint64) []Review {
	g := newGenerator(seed)
	out := make([]Review, n)
	for i := range out {
		out[i] = g.review(g.r.IntN(2) == 0)
	}
	return out
}

package rollup

// Published sums of final days.
//
// In a site's protective mode every answer is a sum of published day cells
// (dashboards/statistics/disclosure.go): a cell's counts plus the noise its
// key fixes. Publishing is a table lookup per count of each cell, made at
// read time, and a 90-day page breakdown publishes some 400,000 cells to
// answer (README, "Dashboards over 10 million events"). Yet a day's cells
// stop changing once its salt days are all finished (compact.go says when),
// and so do their published numbers. Publish writes them once into
// agg_published: for each final day (level 0), and added up over aligned
// blocks of 2, 4, … 2^MaxPublishedLevel days. A range of days is then the
// sum of a few blocks (Cover), which is exactly the sum of its days'
// published cells, the numbers the read-time path gives, plus whatever
// days are not final yet, published at read time as before.
//
// A block is current when agg_published_blocks records it valid with the
// gen of its rows. Rows are never rewritten in place: a rebuild writes a
// new gen and then records it, so a reader that chose its blocks sees the
// rows of one build whole, and the rows of replaced gens are deleted
// afterwards. A late write into a salt day (an import, a WAL replay)
// records the blocks of the days it can touch invalid before the rollup
// writes (unpublish), and Publish checks the events table again after it
// records, as Compact does, so that a salt day that came back while it
// built is not published from numbers it is about to change. Retention
// deletes rows of expired days and records the blocks it cuts invalid.
//
// Each site is built on its own (its days are its own time zone's). A
// cluster's shard does not build: a published cell is a cell of every
// shard's visitors together, which one shard's local tables do not hold;
// there the dashboards publish at read time, as before.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// PublishedTable and PublishedBlocksTable name the published sums of
// agg_daily's cells and the state of their blocks (migration 024), which
// is also that of agg_pairs' (PairsPublishedTable): both are built
// together.
const (
	PublishedTable       = "agg_published"
	PublishedBlocksTable = "agg_published_blocks"
)

// HourlyPublishedTable names the published hourly cells of final days
// (migration 025): each day's belong to its day block (level 0, same gen).
const HourlyPublishedTable = "agg_hourly_published"

// MaxPublishedLevel is the largest block: 2^8 = 256 days. A range of n days
// is covered by at most two blocks per level (Cover).
const MaxPublishedLevel = 8

// publishChunk is how many days one build of level 0 publishes at once,
// which bounds the memory of a first build over years of history.
const publishChunk = 31

// PublishCellsSQL is the FROM of the published cells of the key columns
// keys, from src, a FROM of stored rows (with visitors, visits, pageviews,
// bounces, duration, events and ckey): one row per cell with the perturbed
// numbers under the same names. A cell without a key (stored before
// migration 016) is keyed by a hash of its coordinates instead (see
// dashboards/statistics, published).
func PublishCellsSQL(keys, src string) string {
	if keys == "" {
		panic("rollup: published cells without key columns")
	}
	p := Perturbation
	pub := func(c string) string { return p.PublishSQL(c, "u") }
	// Bounces never exceed visits, so that a bounce rate stays a rate.
	return fmt.Sprintf(`(SELECT %[1]s, %[2]s AS visitors, %[3]s AS visits, %[4]s AS pageviews,
  least(%[5]s, visits) AS bounces, %[6]s AS duration, %[7]s AS events
 FROM (SELECT %[1]s, c0, c1, c2, c3, c4, c5, if(ck = 0, %[8]s, %[9]s) AS u
  FROM (SELECT %[1]s, sum(visitors) AS c0, sum(visits) AS c1, sum(pageviews) AS c2, sum(bounces) AS c3, sum(duration) AS c4,
    sum(events) AS c5, sum(ckey) AS ck FROM %[10]s GROUP BY %[1]s)))`,
		keys, pub("c0"), pub("c1"), pub("c2"), pub("c3"), p.PublishDurationSQL("c4", "c1", "u"), pub("c5"),
		ReduceKeySQL("cityHash64("+keys+")"), ReduceKeySQL("ck"), src)
}

// PairCellsSQL is the FROM of a read of agg_pairs (in database db): one
// row per stored cell (site, day, fdim, fvalue, dim, value, salt_day)
// matching where, with its ckey. A cell is the sum of its rows (pairs.go),
// so no read needs FINAL.
func PairCellsSQL(db, where string) string {
	return fmt.Sprintf(`(SELECT site, day, fdim, fvalue, dim, value, salt_day, toUInt64(sum(c0)) AS visitors, toUInt64(sum(c1)) AS visits,
  toUInt64(sum(c2)) AS pageviews, toUInt64(sum(c3)) AS bounces, toUInt64(sum(c4)) AS duration, toUInt64(sum(c5)) AS events, sum(c6) AS ckey
 FROM (SELECT site, day, fdim, fvalue, dim, value, salt_day, visitors AS c0, visits AS c1, pageviews AS c2, bounces AS c3, duration AS c4, events AS c5, ckey AS c6
  FROM %s.%s WHERE %s)
 GROUP BY site, day, fdim, fvalue, dim, value, salt_day)`, db, pairsTable, where)
}

// PairsPublishedTable names the published sums of agg_pairs' cells.
const PairsPublishedTable = "agg_pairs_published"

// dayNum is d as days since 1970-01-01, the number a Date holds.
func dayNum(d store.Day) int64 { return d.Time().Unix() / 86400 }

// dayOfNum is the inverse of dayNum.
func dayOfNum(n int64) store.Day { return store.DayOf(time.Unix(n*86400, 0).UTC()) }

// Block is one block of published sums: 2^Level days from Day, and the gen
// of its current rows.
type Block struct {
	Level int
	Day   int64 // days since 1970, a multiple of 2^Level
	Gen   uint64
}

func (b Block) last() int64 { return b.Day + 1<<b.Level - 1 }

// DayRange is a span of days, both ends included (days since 1970).
type DayRange struct{ From, To int64 }

// Cover splits the days from..to (both included) into the fewest valid
// blocks, largest first where they fit, and the days no valid block covers
// (to be published at read time), in order.
func Cover(valid map[[2]int64]uint64, from, to store.Day) ([]Block, []DayRange) {
	var blocks []Block
	var open []int64
	lo, hi := dayNum(from), dayNum(to)
	for d := lo; d <= hi; {
		took := false
		for l := MaxPublishedLevel; l >= 0; l-- {
			size := int64(1) << l
			if d%size != 0 || d+size-1 > hi {
				continue
			}
			if gen, ok := valid[[2]int64{int64(l), d}]; ok {
				blocks = append(blocks, Block{Level: l, Day: d, Gen: gen})
				d += size
				took = true
				break
			}
		}
		if took {
			continue
		}
		open = append(open, d)
		d++
	}
	return blocks, runs(open)
}

// BlocksSQL is the condition on agg_published's rows of blocks.
func BlocksSQL(blocks []Block) string {
	if len(blocks) == 0 {
		return "0"
	}
	var b strings.Builder
	b.WriteString("(level, toUInt32(day), gen) IN (")
	for i, bl := range blocks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, %d, %d)", bl.Level, bl.Day, bl.Gen)
	}
	b.WriteString(")")
	return b.String()
}

// DaysSQL is the condition on col (a Date) of the day ranges.
func DaysSQL(col string, rs []DayRange) string {
	if len(rs) == 0 {
		return "0"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("(%s >= %s AND %s <= %s)", col, store.Quote(dayOfNum(r.From).String()), col, store.Quote(dayOfNum(r.To).String()))
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// HoursOfDaysSQL is the condition on an hour column (agg_hourly's) of the
// hours of site s's local days rs: a bound on the column itself, so that
// the engine reads only those months and hours, and the local day of each.
func HoursOfDaysSQL(s *site.Site, rs []DayRange) string {
	if len(rs) == 0 {
		return "0"
	}
	first, last := DayRangesSpan(rs)
	from := time.Date(first.Year, first.Month, first.Day, 0, 0, 0, 0, s.Location)
	to := time.Date(last.Year, last.Month, last.Day+1, 0, 0, 0, 0, s.Location)
	return fmt.Sprintf("hour >= toDateTime(%d) AND hour < toDateTime(%d) AND %s",
		from.Unix(), to.Unix(), DaysSQL(fmt.Sprintf("toDate(hour, %s)", store.Quote(s.Location.String())), rs))
}

// quoteList is vs as a list of SQL strings.
func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = store.Quote(v)
	}
	return strings.Join(q, ", ")
}

// runs are the days (ascending) as ranges of consecutive days.
func runs(days []int64) []DayRange {
	var out []DayRange
	for _, d := range days {
		if n := len(out); n > 0 && out[n-1].To == d-1 {
			out[n-1].To = d
		} else {
			out = append(out, DayRange{d, d})
		}
	}
	return out
}

// DayRangesSpan is the first and the last day of rs (not empty).
func DayRangesSpan(rs []DayRange) (store.Day, store.Day) {
	return dayOfNum(rs[0].From), dayOfNum(rs[len(rs)-1].To)
}

// ValidBlocks reads the current blocks of site id that overlap from..to:
// (level, first day) → gen.
func ValidBlocks(ctx context.Context, st store.Store, id string, from, to store.Day) (map[[2]int64]uint64, error) {
	out := map[[2]int64]uint64{}
	q := fmt.Sprintf("SELECT toUInt64(level), toUInt64(toUInt32(day)), gen FROM %s.%s FINAL WHERE site = %s AND valid = 1 AND day >= %s AND day <= %s",
		st.DB().Stats, PublishedBlocksTable, store.Quote(id), store.Quote(dayOfNum(dayNum(from)-(1<<MaxPublishedLevel)).String()), store.Quote(to.String()))
	err := st.Query(ctx, q, func(row store.Row) error {
		out[[2]int64{int64(row.Uint64(0)), int64(row.Uint64(1))}] = row.Uint64(2)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the published blocks of site %q: %w", id, err)
	}
	return out, nil
}

// blockState is a block's record as Publish reads it.
type blockState struct {
	gen   uint64
	valid bool
}

// Publish writes the published sums of every final day of each site that
// has none yet, and of every block of days whose halves are all current
// (see the top of this file). It returns the first error; what was
// recorded before it stays.
func (r *Rollup) Publish(ctx context.Context, now time.Time) error {
	if store.IsShardLocal(r.st) {
		return nil
	}
	open, err := r.openSaltDays(ctx)
	if err != nil {
		return err
	}
	for _, s := range r.sites.Sites {
		if err := r.publishSite(ctx, s, now, open); err != nil {
			return err
		}
	}
	return nil
}

// finalDay reports whether site-local day d can no longer change: it ended
// before yesterday (UTC) and no salt day still in the events table writes
// to it (a salt day writes its UTC day ±1, see compact.go).
func finalDay(d int64, today int64, open []time.Time) bool {
	if d > today-2 {
		return false
	}
	for _, s := range open {
		if n := s.UTC().Unix() / 86400; d >= n-1 && d <= n+1 {
			return false
		}
	}
	return true
}

func (r *Rollup) publishSite(ctx context.Context, s *site.Site, now time.Time, open []time.Time) error {
	db, id := r.st.DB().Stats, store.Quote(s.ID)
	var first int64
	var rows uint64
	err := r.st.Query(ctx, fmt.Sprintf("SELECT count(), toUInt64(toUInt32(min(day))) FROM %s.agg_daily WHERE site = %s", db, id),
		func(row store.Row) error {
			rows, first = row.Uint64(0), int64(row.Uint64(1))
			return nil
		})
	if err != nil {
		return fmt.Errorf("cannot read the days of site %q: %w", s.ID, err)
	}
	if rows == 0 {
		return nil
	}
	today := now.UTC().Unix() / 86400
	if s.Retention.DailyDays > 0 {
		first = max(first, dayNum(store.DayOf(now.In(s.Location).AddDate(0, 0, -s.Retention.DailyDays))))
	}
	state := map[[2]int64]blockState{}
	err = r.st.Query(ctx, fmt.Sprintf("SELECT toUInt64(level), toUInt64(toUInt32(day)), gen, toUInt64(valid) FROM %s.%s FINAL WHERE site = %s", db, PublishedBlocksTable, id),
		func(row store.Row) error {
			state[[2]int64{int64(row.Uint64(0)), int64(row.Uint64(1))}] = blockState{gen: row.Uint64(2), valid: row.Uint64(3) == 1}
			return nil
		})
	if err != nil {
		return fmt.Errorf("cannot read the published blocks of site %q: %w", s.ID, err)
	}
	// A block is current, or empty: wholly before the site's first kept day.
	current := func(l int, d int64) (uint64, bool) {
		if d+1<<l-1 < first {
			return 0, true
		}
		st, ok := state[[2]int64{int64(l), d}]
		return st.gen, ok && st.valid
	}
	var built []Block
	var replaced [][2]int64
	record := func(bs []Block) error {
		v := nextCompactVersion()
		rows := make([][]any, len(bs))
		for i, b := range bs {
			rows[i] = []any{s.ID, uint8(b.Level), dayOfNum(b.Day), b.Gen, uint8(1), v}
			key := [2]int64{int64(b.Level), b.Day}
			if old, ok := state[key]; ok && old.gen != b.Gen {
				replaced = append(replaced, key)
			}
			state[key] = blockState{gen: b.Gen, valid: true}
		}
		if err := r.st.Insert(ctx, db+"."+PublishedBlocksTable, []string{"site", "level", "day", "gen", "valid", "version"}, rows); err != nil {
			return fmt.Errorf("cannot record the published blocks of site %q: %w", s.ID, err)
		}
		built = append(built, bs...)
		return nil
	}
	// Level 0: each final day, its cells and its dimensions' whole cells.
	var days []int64
	for d := first; d <= today-2; d++ {
		if _, ok := current(0, d); !ok && finalDay(d, today, open) {
			days = append(days, d)
		}
	}
	const nums = "visitors, visits, pageviews, bounces, duration, events"
	const sumNums = "sum(visitors), sum(visits), sum(pageviews), sum(bounces), sum(duration), sum(events)"
	cols := "site, level, day, gen, dim, value, whole, " + nums
	pairCols := "site, level, day, gen, fdim, fvalue, dim, value, whole, " + nums
	for chunk := range slices.Chunk(days, publishChunk) {
		gen := nextCompactVersion()
		inChunk := DaysSQL("day", runs(chunk))
		src := fmt.Sprintf("(SELECT * FROM %s.agg_daily FINAL WHERE site = %s AND %s)", db, id, inChunk)
		hourly := fmt.Sprintf("(SELECT * FROM %s.agg_hourly FINAL WHERE site = %s AND %s)", db, id, HoursOfDaysSQL(s, runs(chunk)))
		pairs := PairCellsSQL(db, fmt.Sprintf("site = %s AND %s", id, inChunk))
		for _, q := range []string{
			fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT site, 0, day, %d, dim, value, 0, %s FROM %s",
				db, PublishedTable, cols, gen, nums, PublishCellsSQL("site, day, dim, value", src)),
			fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT site, 0, day, %d, dim, '', 1, %s FROM %s",
				db, PublishedTable, cols, gen, nums, PublishCellsSQL("site, day, dim", src)),
			// Each day's hours, as the hourly chart publishes them at read
			// time (keys site, hour, dim, value).
			fmt.Sprintf("INSERT INTO %s.%s (site, day, gen, hour, dim, value, %s) SELECT site, toDate(hour, %s), %d, hour, dim, value, %s FROM %s",
				db, HourlyPublishedTable, nums, store.Quote(s.Location.String()), gen, nums, PublishCellsSQL("site, hour, dim, value", hourly)),
			// Coverage (whole = 2): a day on which a filter value had numbers
			// but no pair rows for one of its salt days, as the dashboards
			// check it at read time (FilteredBreakdown, coverPart).
			fmt.Sprintf(`INSERT INTO %s.%s (%s) SELECT site, 0, day, %d, dim, value, 2, toUInt64(1), 0, 0, 0, 0, 0
 FROM %s WHERE dim IN (%s) AND (visitors + visits + pageviews + events) > 0
  AND (dim, value, day, salt_day) NOT IN (SELECT fdim, fvalue, day, salt_day FROM %s WHERE (visitors + visits + pageviews + events) > 0)
 GROUP BY site, day, dim, value`,
				db, PublishedTable, cols, gen, PublishCellsSQL("site, day, dim, value, salt_day", src), quoteList(PairFilterDims),
				PairCellsSQL(db, fmt.Sprintf("site = %s AND %s AND dim = ''", id, inChunk))),
			// A value whose cell is published with no visitor is not a row of
			// a filtered breakdown: it goes to the remainder '', as
			// FilteredBreakdown folds it at read time.
			fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT site, 0, day, %d, fdim, fvalue, dim, if(visitors < 1, '', value) AS v, 0, %s FROM %s GROUP BY site, day, fdim, fvalue, dim, v",
				db, PairsPublishedTable, pairCols, gen, sumNums, PublishCellsSQL("site, day, fdim, fvalue, dim, value", pairs)),
			fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT site, 0, day, %d, fdim, fvalue, dim, '', 1, %s FROM %s",
				db, PairsPublishedTable, pairCols, gen, nums, PublishCellsSQL("site, day, fdim, fvalue, dim", pairs)),
		} {
			if err := r.insertSelect(ctx, q); err != nil {
				return fmt.Errorf("cannot publish the final days of site %q: %w", s.ID, err)
			}
		}
		bs := make([]Block, len(chunk))
		for i, d := range chunk {
			bs[i] = Block{Level: 0, Day: d, Gen: gen}
		}
		if err := record(bs); err != nil {
			return err
		}
	}
	// Each level above: the sum of its two halves, once both are current.
	for l := 1; l <= MaxPublishedLevel; l++ {
		size := int64(1) << l
		var parents []Block
		var halves []Block
		gen := nextCompactVersion()
		for d := (first / size) * size; d+size-1 <= today-2; d += size {
			if _, ok := current(l, d); ok {
				continue
			}
			g0, ok0 := current(l-1, d)
			g1, ok1 := current(l-1, d+size/2)
			if !ok0 || !ok1 {
				continue
			}
			parents = append(parents, Block{Level: l, Day: d, Gen: gen})
			for i, g := range []uint64{g0, g1} {
				if g != 0 {
					halves = append(halves, Block{Level: l - 1, Day: d + int64(i)*size/2, Gen: g})
				}
			}
		}
		if len(parents) == 0 {
			continue
		}
		if len(halves) > 0 {
			for _, t := range []struct{ table, cols, keys string }{
				{PublishedTable, cols, "dim, value, whole"},
				{PairsPublishedTable, pairCols, "fdim, fvalue, dim, value, whole"},
			} {
				q := fmt.Sprintf(`INSERT INTO %s.%s (%s) SELECT site, %d, toDate(toUInt32(day) - toUInt32(day) %% %d) AS start, %d, %s, %s
 FROM %s.%s WHERE site = %s AND level = %d AND %s GROUP BY site, start, %s`,
					db, t.table, t.cols, l, size, gen, t.keys, sumNums, db, t.table, id, l-1, BlocksSQL(halves), t.keys)
				if err := r.insertSelect(ctx, q); err != nil {
					return fmt.Errorf("cannot add up the published days of site %q: %w", s.ID, err)
				}
			}
		}
		if err := record(parents); err != nil {
			return err
		}
	}
	if len(built) == 0 {
		return nil
	}
	// A salt day that came back while the blocks were built: its late
	// write is seen by its rollup's unpublish after this record, or here.
	if open, err = r.openSaltDays(ctx); err != nil {
		return err
	}
	var stale []Block
	for _, b := range built {
		for d := b.Day; d <= b.last(); d++ {
			if !finalDay(d, today, open) && d >= first {
				stale = append(stale, b)
				break
			}
		}
	}
	if err := r.invalidate(ctx, s, stale); err != nil {
		return err
	}
	r.log.Info("published final days", "site", s.ID, "blocks", len(built), "days", len(days))
	if len(replaced) > 0 {
		// The rows of replaced builds: no current block names them.
		cur := make([]Block, 0, len(replaced))
		keys := make([]string, 0, len(replaced))
		for _, k := range replaced {
			cur = append(cur, Block{Level: int(k[0]), Day: k[1], Gen: state[k].gen})
			keys = append(keys, fmt.Sprintf("(%d, %d)", k[0], k[1]))
		}
		where := fmt.Sprintf("site = %s AND (level, toUInt32(day)) IN (%s) AND NOT %s", id, strings.Join(keys, ", "), BlocksSQL(cur))
		for _, t := range []string{PublishedTable, PairsPublishedTable} {
			if _, err := store.DeleteWhere(ctx, r.st, db+"."+t, where); err != nil {
				return fmt.Errorf("cannot delete replaced published sums of site %q: %w", s.ID, err)
			}
		}
		// The hourly cells belong to the day blocks.
		var days, curDays []string
		for i, k := range replaced {
			if k[0] == 0 {
				days = append(days, strconv.FormatInt(k[1], 10))
				curDays = append(curDays, fmt.Sprintf("(%d, %d)", k[1], cur[i].Gen))
			}
		}
		if len(days) > 0 {
			where := fmt.Sprintf("site = %s AND toUInt32(day) IN (%s) AND (toUInt32(day), gen) NOT IN (%s)", id, strings.Join(days, ", "), strings.Join(curDays, ", "))
			if _, err := store.DeleteWhere(ctx, r.st, db+"."+HourlyPublishedTable, where); err != nil {
				return fmt.Errorf("cannot delete replaced published hourly cells of site %q: %w", s.ID, err)
			}
		}
	}
	return nil
}

// invalidate records blocks of site s as to be rebuilt.
func (r *Rollup) invalidate(ctx context.Context, s *site.Site, bs []Block) error {
	if len(bs) == 0 {
		return nil
	}
	v := nextCompactVersion()
	rows := make([][]any, len(bs))
	for i, b := range bs {
		rows[i] = []any{s.ID, uint8(b.Level), dayOfNum(b.Day), b.Gen, uint8(0), v}
	}
	if err := r.st.Insert(ctx, r.st.DB().Stats+"."+PublishedBlocksTable, []string{"site", "level", "day", "gen", "valid", "version"}, rows); err != nil {
		return fmt.Errorf("cannot record published blocks of site %q as stale: %w", s.ID, err)
	}
	return nil
}

// Unpublish records as stale every current block of site s holding a day
// that salt day saltDay writes to (its UTC day ±1), before the rollup
// writes it (runSiteMode): a late write must not leave an answer summed
// from the numbers before it. It writes only when such a block is current.
func (r *Rollup) Unpublish(ctx context.Context, s *site.Site, saltDay time.Time) error {
	if store.IsShardLocal(r.st) {
		return nil
	}
	n := saltDay.UTC().Unix() / 86400
	return r.unpublishDays(ctx, s, n-1, n+1)
}

// unpublishDays records as stale every current block of site s that holds
// a day from..to (days since 1970).
func (r *Rollup) unpublishDays(ctx context.Context, s *site.Site, from, to int64) error {
	var stale []Block
	q := fmt.Sprintf(`SELECT toUInt64(level), toUInt64(toUInt32(day)), gen FROM %s.%s FINAL
 WHERE site = %s AND valid = 1 AND toUInt32(day) <= %d AND toUInt32(day) + pow(2, level) > %d`,
		r.st.DB().Stats, PublishedBlocksTable, store.Quote(s.ID), to, from)
	err := r.st.Query(ctx, q, func(row store.Row) error {
		stale = append(stale, Block{Level: int(row.Uint64(0)), Day: int64(row.Uint64(1)), Gen: row.Uint64(2)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read the published blocks of site %q: %w", s.ID, err)
	}
	if len(stale) > 0 {
		r.log.Info("published blocks stale after a late write", "site", s.ID, "blocks", len(stale))
	}
	return r.invalidate(ctx, s, stale)
}

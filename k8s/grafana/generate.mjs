#!/usr/bin/env node
// Writes raftkv-overview.json and raftkv-member.json beside this file. The dashboards are
// generated so both share one list of queries (a metric renamed in one place is renamed in
// both) and so the layout arithmetic (gridPos) is never done by hand.
// Run: node k8s/grafana/generate.mjs   (then commit the JSON; the tests read the JSON, not this.)
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DS = { type: 'prometheus', uid: '${datasource}' };
/** Every raftkv series carries `member` (a default label) and, from the scrape config, `cluster`. */
const SEL = 'cluster="$cluster", member=~"$member"';
const RATE = '$__rate_interval';

/** Panel specs: title, type, unit, targets [expr, legend]; w/h in grid units. */
function p(title, type, unit, targets, opts = {}) {
  return { title, type, unit, targets, w: opts.w ?? 12, h: opts.h ?? 8, description: opts.description ?? '', stacking: opts.stacking ?? false, mappings: opts.mappings ?? null };
}
const row = (title) => ({ row: title });

const boolMappings = [
  { type: 'value', options: { 0: { text: 'NO LEADER', color: 'red', index: 0 }, 1: { text: 'has leader', color: 'green', index: 1 } } },
];
const leaderMappings = [
  { type: 'value', options: { 0: { text: 'follower', color: 'blue', index: 0 }, 1: { text: 'LEADER', color: 'green', index: 1 } } },
];

// A labelled counter has no series until its first increment; `or 0 * has_leader` shows 0 per
// member instead of "No data" so a quiet cluster reads as healthy, not broken.
const zeroPerMember = `sum by (member) (0 * raftkv_server_has_leader{${SEL}})`;

function quantile(q, metric, by) {
  return `histogram_quantile(${q}, sum by (${by}, le) (rate(${metric}_bucket{${SEL}}[${RATE}])))`;
}

const leadership = [
  row('Leadership'),
  p('Has leader', 'stat', 'none', [[`max by (member) (raftkv_server_has_leader{${SEL}})`, '{{member}}']], { w: 6, h: 5, mappings: boolMappings, description: '1 when the member knows a leader. Any 0 for more than an election timeout means the cluster (or this member) is unavailable for writes.' }),
  p('Current leader', 'stat', 'none', [[`max by (member) (raftkv_server_is_leader{${SEL}}) == 1`, '{{member}}']], { w: 6, h: 5, mappings: leaderMappings, description: 'The member(s) reporting is_leader=1. More than one for long is split brain; none means an election is in progress.' }),
  p('Raft term', 'timeseries', 'none', [[`max by (member) (raftkv_raft_term{${SEL}})`, '{{member}}']], { w: 6, h: 5, description: 'Each step is an election. A climbing term with no leader is a partitioned or flapping member.' }),
  p('Leader changes (in range)', 'stat', 'none', [[`sum by (member) (increase(raftkv_server_leader_changes_seen_total{${SEL}}[$__range]))`, '{{member}}']], { w: 6, h: 5, description: 'Leader changes each member saw in the dashboard time range. etcd alerts at more than 3 per hour.' }),
  p('Role', 'timeseries', 'none', [[`max by (member, role) (raftkv_server_role{${SEL}}) == 1`, '{{member}} {{role}}']], { w: 12, h: 6, description: 'The raft role of each member over time.' }),
  p('Learners', 'stat', 'none', [[`max by (member) (raftkv_server_is_learner{${SEL}})`, '{{member}}']], { w: 12, h: 6, description: '1 for a member that has been added but not yet promoted to voter.' }),
];

const replication = [
  row('Log and replication'),
  p('Commit and apply index', 'timeseries', 'none', [
    [`max by (member) (raftkv_raft_commit_index{${SEL}})`, '{{member}} commit'],
    [`max by (member) (raftkv_raft_applied_index{${SEL}})`, '{{member}} applied'],
  ], { description: 'Highest committed and applied index per member; the lines should move together.' }),
  p('Apply lag (commit − applied)', 'timeseries', 'none', [
    [`max by (member) (raftkv_raft_commit_index{${SEL}}) - max by (member) (raftkv_raft_applied_index{${SEL}})`, '{{member}}'],
  ], { description: 'Entries committed but not yet applied. Growing lag means the state machine backend is too slow.' }),
  p('Commit lag behind the cluster', 'timeseries', 'none', [
    [`scalar(max(raftkv_raft_commit_index{cluster="$cluster"})) - max by (member) (raftkv_raft_commit_index{${SEL}})`, '{{member}}'],
  ], { description: 'How far each member\'s commit index is behind the highest in the cluster.' }),
  p('Follower lag (leader view)', 'timeseries', 'none', [
    [`max by (member, follower) (raftkv_raft_follower_lag_entries{${SEL}})`, '{{member}} → {{follower}}'],
  ], { description: 'Reported by the leader only: entries each follower is behind the leader\'s last index.' }),
  p('Last and snapshot index', 'timeseries', 'none', [
    [`max by (member) (raftkv_raft_last_index{${SEL}})`, '{{member}} last'],
    [`max by (member) (raftkv_raft_snapshot_index{${SEL}})`, '{{member}} snapshot'],
  ], { description: 'Last index in the local log and the index of the latest snapshot (the log below it is compacted).' }),
];

const proposals = [
  row('Proposals'),
  p('Proposals committed / applied', 'timeseries', 'ops', [
    [`sum by (member) (rate(raftkv_server_proposals_committed_total{${SEL}}[${RATE}]))`, '{{member}} committed'],
    [`sum by (member) (rate(raftkv_server_proposals_applied_total{${SEL}}[${RATE}]))`, '{{member}} applied'],
  ], { description: 'Consensus proposals per second.' }),
  p('Proposals pending', 'timeseries', 'none', [[`max by (member) (raftkv_server_proposals_pending{${SEL}})`, '{{member}}']], { w: 6, description: 'Proposals waiting to commit (on the leader). A rising line means commits are slower than writes.' }),
  p('Proposals failed', 'timeseries', 'ops', [
    [`sum by (member, reason) (rate(raftkv_server_proposals_failed_total{${SEL}}[${RATE}])) or ${zeroPerMember}`, '{{member}} {{reason}}'],
  ], { w: 6, description: 'Proposals refused or failed, by reason (leader change, backpressure, timeout...).' }),
  p('Linearizable reads', 'timeseries', 'ops', [[`sum by (member) (rate(raftkv_server_read_indexes_total{${SEL}}[${RATE}]))`, '{{member}}']], { w: 12, description: 'Reads served through ReadIndex or the leader lease.' }),
];

const disk = [
  row('Disk'),
  p('WAL fsync p99', 'timeseries', 's', [[quantile(0.99, 'raftkv_disk_wal_fsync_duration_seconds', 'member'), '{{member}}']], { description: 'One synced raft log write per Ready. etcd recommends p99 below 10 ms.' }),
  p('Backend commit p99', 'timeseries', 's', [[quantile(0.99, 'raftkv_disk_backend_commit_duration_seconds', 'member'), '{{member}}']], { description: 'Applying a committed batch to the state machine. etcd recommends p99 below 25 ms.' }),
];

const network = [
  row('Network'),
  p('Peer round trip p99', 'timeseries', 's', [[quantile(0.99, 'raftkv_network_peer_round_trip_time_seconds', 'member, to'), '{{member}} → {{to}}']], { description: 'Round trip time to each peer.' }),
  p('Peer traffic', 'timeseries', 'Bps', [
    [`sum by (member) (rate(raftkv_network_peer_sent_bytes_total{${SEL}}[${RATE}]))`, '{{member}} sent'],
    [`sum by (member) (rate(raftkv_network_peer_received_bytes_total{${SEL}}[${RATE}]))`, '{{member}} received'],
  ], { description: 'Bytes per second to and from peers.' }),
  p('Peer messages dropped', 'timeseries', 'ops', [
    [`sum by (member, to) (rate(raftkv_network_peer_dropped_messages_total{${SEL}}[${RATE}])) or ${zeroPerMember}`, '{{member}} → {{to}}'],
  ], { w: 24, h: 6, description: 'Messages dropped because a peer queue was full or the peer unreachable.' }),
];

const requests = [
  row('Client requests'),
  p('Request rate by route', 'timeseries', 'reqps', [[`sum by (route, method) (rate(raftkv_http_request_duration_seconds_count{${SEL}}[${RATE}]))`, '{{method}} {{route}}']], { description: 'HTTP requests per second by route template and method.' }),
  p('Request latency p99 by route', 'timeseries', 's', [[quantile(0.99, 'raftkv_http_request_duration_seconds', 'route, method'), '{{method}} {{route}}']], { description: 'p99 latency by route template.' }),
  p('Error responses', 'timeseries', 'reqps', [
    [`sum by (member, code) (rate(raftkv_http_request_duration_seconds_count{${SEL}, code=~"[45].."}[${RATE}])) or ${zeroPerMember}`, '{{member}} {{code}}'],
  ], { description: '4xx and 5xx answers (307 redirects are not errors and are not shown).' }),
  p('Watchers and keys', 'timeseries', 'none', [
    [`max by (member) (raftkv_watchers_active{${SEL}})`, '{{member}} watchers'],
    [`max by (member) (raftkv_kv_keys_total{${SEL}})`, '{{member}} keys'],
  ], { description: 'Open watch streams and keys in the store.' }),
];

const snapshots = [
  row('Snapshots'),
  p('Snapshots (in range)', 'timeseries', 'none', [
    [`sum by (member) (increase(raftkv_snapshot_save_total{${SEL}}[$__range]))`, '{{member}} saved'],
    [`sum by (member) (increase(raftkv_snapshot_sent_total{${SEL}}[$__range]))`, '{{member}} sent'],
    [`sum by (member) (increase(raftkv_snapshot_received_total{${SEL}}[$__range]))`, '{{member}} received'],
  ], { description: 'Snapshots taken, sent to lagging followers and installed from the leader.' }),
  p('Snapshot save / install p99', 'timeseries', 's', [
    [quantile(0.99, 'raftkv_snapshot_save_duration_seconds', 'member'), '{{member}} save'],
    [quantile(0.99, 'raftkv_snapshot_install_duration_seconds', 'member'), '{{member}} install'],
  ], { description: 'Time to take and store a snapshot, and to install a received one. NaN while none happened.' }),
];

const processPanels = [
  row('Process'),
  p('Resident memory', 'timeseries', 'bytes', [[`max by (member) (process_resident_memory_bytes{${SEL}})`, '{{member}}']], { w: 8 }),
  p('CPU', 'timeseries', 'percentunit', [[`sum by (member) (rate(process_cpu_seconds_total{${SEL}}[${RATE}]))`, '{{member}}']], { w: 8 }),
  p('Event loop lag p99', 'timeseries', 's', [[`max by (member) (nodejs_eventloop_lag_p99_seconds{${SEL}})`, '{{member}}']], { w: 8, description: 'A blocked event loop delays heartbeats and causes elections.' }),
];

function build({ uid, title, description, sections, memberMulti, links }) {
  const panels = [];
  let id = 1;
  let x = 0;
  let y = 0;
  let rowH = 0;
  const newline = () => {
    y += rowH;
    x = 0;
    rowH = 0;
  };
  for (const section of sections) {
    for (const spec of section) {
      if ('row' in spec) {
        newline();
        panels.push({ id: id++, type: 'row', title: spec.row, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
        y += 1;
        continue;
      }
      if (x + spec.w > 24) newline();
      const targets = spec.targets.map(([expr, legend], i) => ({ refId: String.fromCharCode(65 + i), datasource: DS, expr, legendFormat: legend, range: true, instant: false }));
      const defaults = { unit: spec.unit, color: { mode: 'palette-classic' } };
      if (spec.mappings) defaults.mappings = spec.mappings;
      const panel = {
        id: id++,
        type: spec.type,
        title: spec.title,
        description: spec.description,
        datasource: DS,
        gridPos: { h: spec.h, w: spec.w, x, y },
        targets,
        fieldConfig: { defaults, overrides: [] },
        options: spec.type === 'stat'
          ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'none', textMode: 'value_and_name', orientation: 'auto', justifyMode: 'auto' }
          : { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
      };
      if (spec.type === 'timeseries') panel.fieldConfig.defaults.custom = { drawStyle: 'line', lineWidth: 1, fillOpacity: 0, showPoints: 'never', spanNulls: false };
      panels.push(panel);
      x += spec.w;
      rowH = Math.max(rowH, spec.h);
    }
  }
  return {
    uid,
    title,
    description,
    tags: ['raftkv'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '10s',
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
    links,
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1, regex: '', options: [] },
        {
          name: 'cluster', label: 'Cluster', type: 'query', datasource: DS,
          definition: 'label_values(raftkv_server_has_leader, cluster)',
          query: { qryType: 1, query: 'label_values(raftkv_server_has_leader, cluster)', refId: 'PrometheusVariableQueryEditor-VariableQuery' },
          refresh: 2, sort: 1, multi: false, includeAll: false, current: {}, hide: 0, options: [], regex: '',
        },
        {
          name: 'member', label: 'Member', type: 'query', datasource: DS,
          definition: 'label_values(raftkv_server_has_leader{cluster="$cluster"}, member)',
          query: { qryType: 1, query: 'label_values(raftkv_server_has_leader{cluster="$cluster"}, member)', refId: 'PrometheusVariableQueryEditor-VariableQuery' },
          refresh: 2, sort: 1, multi: memberMulti, includeAll: memberMulti, allValue: memberMulti ? '.*' : undefined, current: {}, hide: 0, options: [], regex: '',
        },
      ],
    },
    panels,
  };
}

const overview = build({
  uid: 'raftkv-overview',
  title: 'raftkv / Overview',
  description: 'A raftkv cluster at a glance: leadership, replication, proposals, disk, network, requests, snapshots.',
  sections: [leadership, replication, proposals, disk, network, requests, snapshots, processPanels],
  memberMulti: true,
  links: [{ title: 'Member', type: 'dashboards', tags: ['raftkv'], asDropdown: true, includeVars: true, keepTime: true }],
});

// The member view: the same queries for one member, laid out wider so per-peer series
// (RTT, traffic, follower lag) are readable.
const widen = (section) => section.map((s) => ('row' in s ? s : { ...s, w: s.w === 6 ? 12 : s.w }));
const member = build({
  uid: 'raftkv-member',
  title: 'raftkv / Member',
  description: 'One raftkv member in detail: role, indexes, proposals, disk and peer latency, requests, snapshots, process.',
  sections: [leadership, replication, proposals, disk, network, requests, snapshots, processPanels].map(widen),
  memberMulti: false,
  links: [{ title: 'Overview', type: 'link', url: '/d/raftkv-overview', includeVars: true, keepTime: true }],
});

for (const [file, dash] of [['raftkv-overview.json', overview], ['raftkv-member.json', member]]) {
  writeFileSync(join(here, file), `${JSON.stringify(dash, null, 2)}\n`);
}

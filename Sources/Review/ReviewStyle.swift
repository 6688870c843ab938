/// The review page's style sheet: no fonts, images or anything else from outside the file.
enum ReviewStyle {
    static let css = #"""
    :root { --bg: #f5f6f8; --panel: #ffffff; --ink: #1d2330; --muted: #6b7280; --line: #dde1e7; --accent: #2563eb;
            --accept: #15803d; --refuse: #b91c1c; --abstain: #a16207; --label: 170px; }
    * { box-sizing: border-box; }
    body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    main { max-width: 1280px; margin: 0 auto; padding: 16px 20px 40px; display: grid; gap: 16px;
           grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); grid-template-areas: "header header" "player decision" "timeline timeline" "events events" "sheet sheet" "problems problems"; }
    section, header { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
    #header { grid-area: header; } #player { grid-area: player; } #decision { grid-area: decision; overflow: auto; max-height: 480px; }
    #timeline { grid-area: timeline; } #events { grid-area: events; } #sheet { grid-area: sheet; } #problems { grid-area: problems; }
    #problems:empty { display: none; }
    h1 { font-size: 20px; margin: 0 0 8px; word-break: break-all; } h2 { font-size: 15px; margin: 0 0 10px; color: #374151; }
    .facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr max-content 1fr; gap: 2px 12px; margin: 0; }
    .facts dt { color: var(--muted); } .facts dd { margin: 0; word-break: break-all; }
    .status-finished { color: var(--accept); font-weight: 600; } .status-failed, .status-recording { color: var(--refuse); font-weight: 600; }
    video { width: 100%; background: #000; border-radius: 6px; display: block; aspect-ratio: 16 / 9; }
    #now { color: var(--muted); font-variant-numeric: tabular-nums; margin-top: 6px; }
    .card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; margin-bottom: 8px; cursor: pointer; }
    .card:hover, .card:focus { border-color: var(--accent); outline: none; }
    .card .when { float: right; color: var(--muted); font-variant-numeric: tabular-nums; }
    .card .reason { margin: 4px 0 0; } .card .warning { margin: 4px 0 0; color: var(--refuse); }
    .accept { color: var(--accept); } .refuse { color: var(--refuse); } .abstain { color: var(--abstain); }
    .badge { display: inline-block; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; padding: 1px 6px; border-radius: 4px;
             background: #e5e7eb; color: #374151; margin-right: 6px; }
    .badge-request { background: #dbeafe; color: #1e40af; } .badge-answer { background: #dcfce7; color: #166534; }
    .badge-decision { background: #fef3c7; color: #92400e; } .badge-chat { background: #ede9fe; color: #5b21b6; }
    .badge-join, .badge-leave { background: #e0f2fe; color: #075985; } .badge-loudest { background: #fce7f3; color: #9d174d; }
    .badge-end { background: #fee2e2; color: #991b1b; }
    table { border-collapse: collapse; width: 100%; }
    th { text-align: left; color: var(--muted); font-weight: 500; border-bottom: 1px solid var(--line); padding: 4px 6px; }
    td { padding: 4px 6px; border-bottom: 1px solid #f0f1f4; vertical-align: top; }
    .plugins { margin-top: 6px; font-size: 13px; } .number { text-align: right; font-variant-numeric: tabular-nums; }
    .verdict-accept { color: var(--accept); } .verdict-refuse { color: var(--refuse); } .verdict-abstain { color: var(--muted); }
    .verdict-error, .verdict-timeout, .verdict-crash, .verdict-unavailable { color: var(--refuse); font-weight: 600; }
    tr.event { cursor: pointer; } tr.event:hover td { background: #f3f6fd; } tr.event.current td { background: #e0e9fb; }
    tr.event .when { width: 70px; font-variant-numeric: tabular-nums; color: var(--muted); white-space: nowrap; }
    tr.event .text { word-break: break-word; white-space: pre-wrap; }
    .chart { position: relative; user-select: none; }
    .lane { display: grid; grid-template-columns: var(--label) 1fr; align-items: center; min-height: 30px; border-bottom: 1px dashed #eceef2; }
    .lane .label { padding-right: 10px; overflow: hidden; } .lane .name { display: block; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .lane .sub { display: block; color: var(--muted); font-size: 11px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .track { position: relative; height: 28px; cursor: pointer; }
    .ruler { min-height: 20px; border-bottom: 1px solid var(--line); } .ruler .track { height: 20px; cursor: default; }
    .tick { position: absolute; top: 2px; font-size: 11px; color: var(--muted); transform: translateX(-50%); font-variant-numeric: tabular-nums; }
    .tick::after { content: ""; position: absolute; left: 50%; top: 16px; height: 5px; border-left: 1px solid var(--line); }
    .bar { position: absolute; border-radius: 4px; cursor: pointer; }
    .bar.presence { top: 5px; height: 18px; background: var(--color); opacity: .28; }
    .bar.speaking { top: 9px; height: 10px; background: var(--color); box-shadow: 0 0 0 1px rgba(0,0,0,.25); }
    .bar:hover { filter: brightness(.85); opacity: 1; }
    .marker { position: absolute; top: 6px; width: 14px; height: 14px; margin-left: -7px; border-radius: 50%; cursor: pointer;
              background: #6b7280; border: 2px solid #fff; box-shadow: 0 0 0 1px rgba(0,0,0,.3); }
    .marker:hover, .marker:focus { transform: scale(1.3); outline: none; }
    .marker-request { background: #2563eb; } .marker-answer { background: #16a34a; } .marker-decision { background: #d97706; border-radius: 3px; }
    .marker-chat { background: #7c3aed; } .marker-layout { background: #0891b2; border-radius: 2px; } .marker-end { background: #dc2626; }
    .overlay { position: absolute; top: 0; bottom: 0; left: var(--label); right: 0; pointer-events: none; }
    .playhead { position: absolute; top: 0; bottom: 0; width: 0; border-left: 2px solid #ef4444; }
    .playhead::before { content: ""; position: absolute; top: -2px; left: -6px; border: 5px solid transparent; border-top: 7px solid #ef4444; }
    .legend { margin-top: 8px; color: var(--muted); font-size: 12px; display: flex; gap: 16px; }
    .key::before { content: ""; display: inline-block; width: 18px; height: 10px; margin-right: 5px; vertical-align: middle; border-radius: 3px; }
    .presence-key::before { background: #2563eb; opacity: .28; } .speaking-key::before { background: #2563eb; }
    .marker-key::before { width: 10px; border-radius: 50%; background: #6b7280; }
    #contact-sheet { max-width: 100%; border-radius: 6px; cursor: pointer; display: block; }
    .muted { color: var(--muted); }
    @media (max-width: 900px) { main { grid-template-columns: 1fr; grid-template-areas: "header" "player" "decision" "timeline" "events" "sheet" "problems"; }
                                .facts { grid-template-columns: max-content 1fr; } }
    """#
}

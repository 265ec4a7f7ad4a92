// The product mark, drawn inline so it needs no font or image request.
export function PandaMark() {
  return (
    <svg className="mark" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
      <circle cx="5" cy="5" r="3.5" fill="#1d2330" stroke="#fff" strokeWidth="1" />
      <circle cx="19" cy="5" r="3.5" fill="#1d2330" stroke="#fff" strokeWidth="1" />
      <circle cx="12" cy="13" r="9.5" fill="#fff" />
      <ellipse cx="8.3" cy="12" rx="2.4" ry="3" fill="#1d2330" />
      <ellipse cx="15.7" cy="12" rx="2.4" ry="3" fill="#1d2330" />
      <ellipse cx="12" cy="17" rx="1.6" ry="1.1" fill="#1d2330" />
    </svg>
  );
}

package board

import (
	"fmt"
	"net/http"

	"golang.org/x/text/language"
)

// Languages the board's text is written in; the first is the fallback.
var supported = []language.Tag{language.English, language.Korean}

// messages holds the UI text by language and key.
var messages = map[string]map[string]string{
	"en": {
		"title":              "gotune board",
		"nav.runs":           "Runs",
		"nav.compare":        "Compare",
		"nav.new":            "New run",
		"runs.heading":       "Runs in %s",
		"runs.none":          "No run folders yet. Start one with New run or gotune train --out %s/NAME.",
		"col.run":            "Run",
		"col.status":         "Status",
		"col.method":         "Method",
		"col.model":          "Model",
		"col.task":           "Task",
		"col.best":           "Best metric",
		"col.trainable":      "Trainable %",
		"col.steps":          "Steps",
		"col.time":           "Time",
		"col.memory":         "Peak memory",
		"col.started":        "Started",
		"col.size":           "Size",
		"col.file":           "File",
		"status.running":     "running",
		"status.finished":    "finished",
		"status.failed":      "failed",
		"status.interrupted": "interrupted",
		"status.starting":    "starting",
		"run.config":         "Settings (config.yaml)",
		"run.command":        "Command (command.txt)",
		"run.curves":         "Curves",
		"run.loss":           "training loss",
		"run.eval":           "evaluation",
		"run.evals":          "Evaluations",
		"run.result":         "Result (eval.json)",
		"run.params":         "Parameters",
		"run.files":          "Files",
		"run.log":            "Log",
		"run.stop":           "Stop (Ctrl-C: saves a resumable checkpoint)",
		"run.resume":         "Resume from the checkpoint",
		"run.nodata":         "no data yet",
		"run.step":           "step",
		"run.live":           "updating live",
		"run.notfound":       "no run folder %q under %s",
		"run.error":          "reading this run: %s",
		"compare.heading":    "Compare runs",
		"compare.pick":       "Pick runs to compare",
		"compare.show":       "Compare",
		"compare.reports":    "gotune compare reports",
		"compare.noreports":  "No gotune compare report under this folder.",
		"compare.table":      "Metrics",
		"compare.none":       "Pick two or more runs.",
		"new.heading":        "New run",
		"new.intro":          "Starts gotune train as a child process. Paths: model and data inside %s; the run folder is a name inside %s.",
		"new.namelabel":      "run name",
		"new.name":           "the run folder: %s/NAME (stands for --out); its log goes to NAME.log beside it",
		"new.start":          "Start training",
		"new.general":        "General",
		"new.group":          "%s options",
		"new.default":        "default",
		"new.errors":         "Nothing was started:",
		"new.started":        "Started %s.",
		"err.forbidden":      "forbidden: open the link with the token printed when the board started",
		"err.crossorigin":    "refused: the request came from another site",
		"err.host":           "refused: unexpected Host header %q",
		"err.method":         "method not allowed",
		"err.notrunning":     "%s is not a run started by this board, or it has ended",
		"err.outside":        "%s: %q is outside the folders the board was given (%s)",
		"err.missing":        "%s: %q does not exist",
		"err.name":           "run name %q: use a relative name of letters, digits, '.', '_', '-' and '/' without '..'",
		"err.noname":         "run name: required",
		"err.exists":         "run folder %s exists and is not empty: tick resume to continue it or overwrite to replace it",
		"err.busy":           "%s is already running",
		"err.unknown":        "unknown field %q",
		"err.value":          "%s: %s",
	},
	"ko": {
		"title":              "gotune 보드",
		"nav.runs":           "실행 목록",
		"nav.compare":        "비교",
		"nav.new":            "새 실행",
		"runs.heading":       "%s 의 실행",
		"runs.none":          "아직 실행 폴더가 없습니다. 새 실행 또는 gotune train --out %s/이름 으로 시작하세요.",
		"col.run":            "실행",
		"col.status":         "상태",
		"col.method":         "방법",
		"col.model":          "모델",
		"col.task":           "작업",
		"col.best":           "최고 지표",
		"col.trainable":      "학습 파라미터 %",
		"col.steps":          "스텝",
		"col.time":           "시간",
		"col.memory":         "최대 메모리",
		"col.started":        "시작",
		"col.size":           "크기",
		"col.file":           "파일",
		"status.running":     "실행 중",
		"status.finished":    "완료",
		"status.failed":      "실패",
		"status.interrupted": "중단됨",
		"status.starting":    "시작 중",
		"run.config":         "설정 (config.yaml)",
		"run.command":        "명령 (command.txt)",
		"run.curves":         "곡선",
		"run.loss":           "학습 손실",
		"run.eval":           "평가",
		"run.evals":          "평가 기록",
		"run.result":         "결과 (eval.json)",
		"run.params":         "파라미터",
		"run.files":          "파일",
		"run.log":            "로그",
		"run.stop":           "중지 (Ctrl-C: 이어서 학습할 체크포인트 저장)",
		"run.resume":         "체크포인트에서 이어서 학습",
		"run.nodata":         "아직 데이터 없음",
		"run.step":           "스텝",
		"run.live":           "실시간 갱신 중",
		"run.notfound":       "%[2]s 아래에 실행 폴더 %[1]q 가 없습니다",
		"run.error":          "이 실행을 읽는 중 오류: %s",
		"compare.heading":    "실행 비교",
		"compare.pick":       "비교할 실행을 고르세요",
		"compare.show":       "비교",
		"compare.reports":    "gotune compare 보고서",
		"compare.noreports":  "이 폴더 아래에 gotune compare 보고서가 없습니다.",
		"compare.table":      "지표",
		"compare.none":       "실행을 두 개 이상 고르세요.",
		"new.heading":        "새 실행",
		"new.intro":          "gotune train 을 자식 프로세스로 시작합니다. 모델과 데이터는 %s 안에, 실행 폴더는 %s 안의 이름입니다.",
		"new.namelabel":      "실행 이름",
		"new.name":           "실행 폴더: %s/이름 (--out 대신); 로그는 그 옆의 이름.log",
		"new.start":          "학습 시작",
		"new.general":        "일반",
		"new.group":          "%s 옵션",
		"new.default":        "기본값",
		"new.errors":         "아무것도 시작하지 않았습니다:",
		"new.started":        "%s 을(를) 시작했습니다.",
		"err.forbidden":      "접근 거부: 보드를 시작할 때 출력된 토큰이 붙은 링크로 여세요",
		"err.crossorigin":    "거부: 다른 사이트에서 온 요청입니다",
		"err.host":           "거부: 예상하지 못한 Host 헤더 %q",
		"err.method":         "허용되지 않는 메서드",
		"err.notrunning":     "%s 은(는) 이 보드가 시작한 실행이 아니거나 이미 끝났습니다",
		"err.outside":        "%s: %q 은(는) 보드에 주어진 폴더(%s) 밖에 있습니다",
		"err.missing":        "%s: %q 이(가) 없습니다",
		"err.name":           "실행 이름 %q: '..' 없이 글자, 숫자, '.', '_', '-', '/' 로 된 상대 이름을 쓰세요",
		"err.noname":         "실행 이름: 필수입니다",
		"err.exists":         "실행 폴더 %s 가 비어 있지 않습니다: 이어서 하려면 resume, 바꾸려면 overwrite 를 선택하세요",
		"err.busy":           "%s 은(는) 이미 실행 중입니다",
		"err.unknown":        "알 수 없는 항목 %q",
		"err.value":          "%s: %s",
	},
}

// translator formats UI text in one language.
type translator string

// T returns the text for key in the translator's language, formatted with
// args; a key missing there falls back to English, then to the key itself.
func (l translator) T(key string, args ...any) string {
	s, ok := messages[string(l)][key]
	if !ok {
		if s, ok = messages["en"][key]; !ok {
			s = key
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

var matcher = language.NewMatcher(supported)

// lang picks the request's language: the board's --lang when set, else the
// best match of the browser's Accept-Language, else English.
func (s *Server) lang(r *http.Request) translator {
	if s.opts.Lang != "" {
		return translator(s.opts.Lang)
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return "en"
	}
	base, _ := supported[i].Base()
	return translator(base.String())
}

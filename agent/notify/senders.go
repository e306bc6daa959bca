package notify

// NewSenders returns a sender for every configured channel: Slack when
// slack.Enabled(), Telegram when tg.Enabled(). None configured gives none,
// which means notifications are off.
func NewSenders(slack SlackConfig, tg TelegramConfig) ([]Sender, error) {
	var out []Sender
	if slack.Enabled() {
		s, err := NewSlackSender(slack)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if tg.Enabled() {
		t, err := NewTelegramSender(tg)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Channels lists the channels of senders, for NotifierConfig.Channels.
func Channels(senders []Sender) []string {
	out := make([]string, 0, len(senders))
	for _, s := range senders {
		out = append(out, s.Channel())
	}
	return out
}
